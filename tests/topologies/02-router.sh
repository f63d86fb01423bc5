# A router joining two switches (IPv4 + IPv6), static routes, ECMP routes, a policy route,
# and a route to a discard next hop.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-p1 -- lsp-set-addresses sw1-p1 "50:54:00:00:01:01 10.0.1.11 bef0::11"
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24 aef0::1/64
$NBCTL lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 10.0.1.1/24 bef0::1/64
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
$NBCTL lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router \
    -- lsp-set-options sw1-lr0 router-port=lr0-sw1
$NBCTL lr-route-add lr0 172.16.0.0/16 10.0.1.100
$NBCTL --ecmp lr-route-add lr0 172.17.0.0/16 10.0.1.101
$NBCTL --ecmp lr-route-add lr0 172.17.0.0/16 10.0.1.102
$NBCTL --ecmp-symmetric-reply lr-route-add lr0 172.18.0.0/16 10.0.1.103
$NBCTL lr-route-add lr0 cafe::/64 bef0::100
$NBCTL --policy=src-ip lr-route-add lr0 10.0.0.128/25 10.0.1.104
$NBCTL lr-route-add lr0 192.0.2.0/24 discard
$NBCTL lr-policy-add lr0 1000 "ip4.src == 10.0.0.11" reroute 10.0.1.106
$NBCTL lr-policy-add lr0 900 "ip4.dst == 10.9.9.0/24" drop
$NBCTL lr-policy-add lr0 800 "ip4.src == 10.0.0.12" allow
$NBCTL lr-policy-add lr0 700 "ip4.src == 10.0.0.13" reroute 10.0.1.107,10.0.1.108
$NBCTL set Logical_Router_Port lr0-sw0 options:gateway_mtu=1400
$NBCTL set Logical_Router lr0 options:always_learn_from_arp_request=false
$NBCTL set Logical_Router_Port lr0-sw1 ipv6_ra_configs:send_periodic=true
