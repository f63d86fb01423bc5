# IPv6 router advertisements (slaac, dhcpv6_stateful, dhcpv6_stateless), ND proxy, prefix
# delegation, and IPv6-only routing with a link-local next hop.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 aef0::11"
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-p1 -- lsp-set-addresses sw1-p1 "50:54:00:00:01:01 bef0::11"
$NBCTL ls-add sw2
$NBCTL lsp-add sw2 sw2-p1 -- lsp-set-addresses sw2-p1 "50:54:00:00:02:01 cef0::11"
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 aef0::1/64
$NBCTL lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 bef0::1/64
$NBCTL lrp-add lr0 lr0-sw2 00:00:00:00:ff:03 cef0::1/64
for s in sw0 sw1 sw2; do
    $NBCTL lsp-add $s $s-lr0 -- lsp-set-type $s-lr0 router -- lsp-set-addresses $s-lr0 router \
        -- lsp-set-options $s-lr0 router-port=lr0-$s
done
$NBCTL set Logical_Router_Port lr0-sw0 ipv6_ra_configs:address_mode=slaac \
    ipv6_ra_configs:mtu=1280 ipv6_ra_configs:send_periodic=true \
    ipv6_ra_configs:max_interval=60 ipv6_ra_configs:min_interval=30 \
    ipv6_ra_configs:rdnss=aef0::53 ipv6_ra_configs:dnssl=example.org \
    ipv6_ra_configs:route_info="HIGH-aef1::/64,LOW-aef2::/64"
$NBCTL set Logical_Router_Port lr0-sw1 ipv6_ra_configs:address_mode=dhcpv6_stateful \
    ipv6_ra_configs:router_preference=HIGH
$NBCTL set Logical_Router_Port lr0-sw2 ipv6_ra_configs:address_mode=dhcpv6_stateless \
    options:prefix_delegation=true options:prefix=true
$NBCTL lr-route-add lr0 dead::/64 bef0::100
$NBCTL lr-route-add lr0 beef::/64 fe80::1 lr0-sw1
$NBCTL set Logical_Switch sw0 other_config:ipv6_prefix=aef0:: 
$NBCTL set Logical_Switch_Port sw0-p1 options:mcast_flood=true
