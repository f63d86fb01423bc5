# Chassis that do not advertise ct-no-masked-label / ovn-ct-lb-related (older
# ovn-controllers): northd falls back to ct_lb and ct_label.* bits. Load balancers, ACLs
# and a gateway router so those fallbacks appear.
for ch in ch1 ch2; do
    $SBCTL remove Chassis $ch other_config ct-no-masked-label
    $SBCTL remove Chassis $ch other_config ovn-ct-lb-related
done
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12"
$NBCTL acl-add sw0 from-lport 1000 'ip4 && tcp.dst == 80' allow-related
$NBCTL acl-add sw0 to-lport 900 'ip4.src == 10.9.0.0/16' drop
$NBCTL lb-add lb0 10.0.0.10:80 10.0.0.11:8080,10.0.0.12:8080 tcp
$NBCTL set Load_Balancer lb0 options:skip_snat=true
$NBCTL ls-lb-add sw0 lb0
$NBCTL lr-add gw0 -- set Logical_Router gw0 options:chassis=ch1
$NBCTL lrp-add gw0 gw0-sw0 00:00:00:00:ff:01 10.0.0.1/24
$NBCTL lsp-add sw0 sw0-gw0 -- lsp-set-type sw0-gw0 router -- lsp-set-addresses sw0-gw0 router \
    -- lsp-set-options sw0-gw0 router-port=gw0-sw0
$NBCTL lrp-add gw0 gw0-ext 00:00:00:00:ff:02 172.16.0.1/24
$NBCTL lr-lb-add gw0 lb0
$NBCTL lr-nat-add gw0 snat 172.16.0.1 10.0.0.0/24
$NBCTL lr-nat-add gw0 dnat_and_snat 172.16.0.20 10.0.0.12
$NBCTL set Logical_Router gw0 options:lb_force_snat_ip=router_ip
