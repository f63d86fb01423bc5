# Load balancers on a switch and a router, with health checks, session affinity,
# hairpin, templates off, IPv6 VIPs, SCTP and UDP, and skip_snat.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12 aef0::12"
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-p1 -- lsp-set-addresses sw1-p1 "50:54:00:00:01:01 10.0.1.11"
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24 aef0::1/64
$NBCTL lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 10.0.1.1/24
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
$NBCTL lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router \
    -- lsp-set-options sw1-lr0 router-port=lr0-sw1
$NBCTL lrp-set-gateway-chassis lr0-sw1 ch1 20
$NBCTL lb-add lb0 10.0.0.10:80 10.0.0.11:8080,10.0.0.12:8080 tcp
$NBCTL lb-add lb0 10.0.0.10:53 10.0.0.11:53,10.0.0.12:53 udp
$NBCTL lb-add lb1 10.0.0.20 10.0.0.11,10.0.0.12
$NBCTL lb-add lb6 "[aef0::100]:80" "[aef0::11]:80,[aef0::12]:80" tcp
$NBCTL lb-add lbs 10.0.0.30:9000 10.0.0.11:9000 sctp
$NBCTL lb-add lbe 10.0.0.40:80 "" tcp
$NBCTL set Load_Balancer lb1 selection_fields="ip_src,ip_dst"
$NBCTL set Load_Balancer lb0 options:affinity_timeout=60
$NBCTL set Load_Balancer lbs options:hairpin_snat_ip="10.0.0.99"
$NBCTL set Load_Balancer lb6 options:skip_snat=true
$NBCTL set NB_Global . options:controller_event=true
$NBCTL ls-lb-add sw0 lb0 -- ls-lb-add sw0 lb1 -- ls-lb-add sw0 lb6 -- ls-lb-add sw0 lbs \
    -- ls-lb-add sw0 lbe
$NBCTL lr-lb-add lr0 lb0 -- lr-lb-add lr0 lb1 -- lr-lb-add lr0 lb6 -- lr-lb-add lr0 lbe
# Health check on lb0's TCP VIP.
uuid=$($NBCTL --id=@hc create Load_Balancer_Health_Check vip="10.0.0.10\:80" \
    options:interval=5 options:timeout=20 options:success_count=3 options:failure_count=3 \
    -- add Load_Balancer lb0 health_check @hc)
$NBCTL set Load_Balancer lb0 ip_port_mappings:10.0.0.11=sw0-p1:10.0.0.2 \
    ip_port_mappings:10.0.0.12=sw0-p2:10.0.0.2
$NBCTL lb-add lbr 172.16.0.100:8000 10.0.1.11:80 tcp
$NBCTL set Load_Balancer lbr options:reject=true
$NBCTL lr-lb-add lr0 lbr
$NBCTL set Load_Balancer lbr options:neighbor_responder=all || true
