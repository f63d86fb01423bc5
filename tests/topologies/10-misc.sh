# Assorted features: port mirroring off, ls without ports, router with ports in
# different VRFs, check_pkt_larger (gateway_mtu on a DGP), FDB learning (unknown addr),
# service monitor MAC, controller events, ACL default drop, copp, load balancer groups,
# templates-free hairpin, dynamic_neigh_routers, lr learning from ARP.
$NBCTL set NB_Global . options:svc_monitor_mac="0a:00:00:00:00:01"
$NBCTL set NB_Global . options:default_acl_drop=true options:use_ct_inv_match=true
$NBCTL set NB_Global . options:ignore_lsp_down=false
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 unknown
$NBCTL lsp-set-port-security sw0-p2 "50:54:00:00:00:02 10.0.0.12/24"
$NBCTL lsp-add sw0 sw0-p3 -- lsp-set-addresses sw0-p3 "50:54:00:00:00:03 10.0.0.13"
$NBCTL lsp-set-type sw0-p3 "" 
$NBCTL set Logical_Switch_Port sw0-p3 options:pkt_clone_type=mc_unknown || true
$NBCTL ls-add public
$NBCTL lsp-add public ln -- lsp-set-type ln localnet -- lsp-set-addresses ln unknown \
    -- lsp-set-options ln network_name=phys localnet_learn_fdb=true
$NBCTL lr-add lr0
$NBCTL set Logical_Router lr0 options:dynamic_neigh_routers=true
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24
$NBCTL lrp-add lr0 lr0-public 00:00:00:00:ff:02 172.16.0.1/24
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
$NBCTL lsp-add public public-lr0 -- lsp-set-type public-lr0 router \
    -- lsp-set-addresses public-lr0 router -- lsp-set-options public-lr0 router-port=lr0-public
$NBCTL lrp-set-gateway-chassis lr0-public ch1 10
$NBCTL set Logical_Router_Port lr0-public options:gateway_mtu=1400
$NBCTL lr-nat-add lr0 snat 172.16.0.1 10.0.0.0/24
$NBCTL meter-add copp_meter drop 100 pktps
$NBCTL copp-add copp0 arp copp_meter || true
$NBCTL copp-add copp0 icmp4-error copp_meter || true
$NBCTL ls-copp-add copp0 sw0 || true
$NBCTL lr-copp-add copp0 lr0 || true
$NBCTL lb-add lbg 10.0.0.100:80 10.0.0.11:80 tcp
grp=$($NBCTL create Load_Balancer_Group name=grp0)
lbu=$($NBCTL --bare --columns=_uuid find Load_Balancer name=lbg)
$NBCTL add Load_Balancer_Group "$grp" load_balancer "$lbu"
$NBCTL add Logical_Switch sw0 load_balancer_group "$grp"
$NBCTL add Logical_Router lr0 load_balancer_group "$grp"
$NBCTL acl-add sw0 from-lport 1000 'ip4 && icmp4.type == 8' allow-related
$NBCTL set Logical_Router lr0 options:always_learn_from_arp_request=true
$NBCTL lsp-add sw0 sw0-vtep -- lsp-set-type sw0-vtep vtep || true
$NBCTL lsp-set-options sw0-vtep vtep-physical-switch=br0 vtep-logical-switch=ls0 || true
# A forwarding group with liveness detection.
$NBCTL --liveness fwd-group-add fwd0 sw0 10.0.0.99 00:00:00:00:00:99 sw0-p1 sw0-p3
