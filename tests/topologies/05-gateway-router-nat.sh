# A gateway router (options:chassis) with snat, dnat, dnat_and_snat and stateless NAT,
# plus a join switch to a distributed router; force SNAT for LB and DNAT.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11"
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
$NBCTL ls-add join
$NBCTL lrp-add lr0 lr0-join 00:00:00:00:ff:10 100.64.0.1/16
$NBCTL lsp-add join join-lr0 -- lsp-set-type join-lr0 router -- lsp-set-addresses join-lr0 router \
    -- lsp-set-options join-lr0 router-port=lr0-join
$NBCTL lr-add gw0
$NBCTL set Logical_Router gw0 options:chassis=ch1 options:dynamic_neigh_routers=true
$NBCTL lrp-add gw0 gw0-join 00:00:00:00:ff:11 100.64.0.2/16
$NBCTL lsp-add join join-gw0 -- lsp-set-type join-gw0 router -- lsp-set-addresses join-gw0 router \
    -- lsp-set-options join-gw0 router-port=gw0-join
$NBCTL lrp-add gw0 gw0-ext 00:00:00:00:ff:20 172.16.0.1/24 2001:db8::1/64
$NBCTL ls-add ext
$NBCTL lsp-add ext ext-gw0 -- lsp-set-type ext-gw0 router -- lsp-set-addresses ext-gw0 router \
    -- lsp-set-options ext-gw0 router-port=gw0-ext nat-addresses=router
$NBCTL lsp-add ext ext-ln -- lsp-set-type ext-ln localnet -- lsp-set-addresses ext-ln unknown \
    -- lsp-set-options ext-ln network_name=phys
$NBCTL lr-route-add gw0 10.0.0.0/24 100.64.0.1
$NBCTL lr-route-add lr0 0.0.0.0/0 100.64.0.2
$NBCTL lr-route-add gw0 0.0.0.0/0 172.16.0.254
$NBCTL lr-nat-add gw0 snat 172.16.0.1 10.0.0.0/24
$NBCTL lr-nat-add gw0 dnat 172.16.0.10 10.0.0.11
$NBCTL lr-nat-add gw0 dnat_and_snat 172.16.0.20 10.0.0.12
$NBCTL --stateless lr-nat-add gw0 dnat_and_snat 172.16.0.21 10.0.0.13
$NBCTL --portrange lr-nat-add gw0 snat 172.16.0.2 10.0.0.128/25 10000-20000 || true
$NBCTL lr-nat-add gw0 snat 2001:db8::100 aef0::/64
$NBCTL set Logical_Router gw0 options:lb_force_snat_ip=router_ip options:snat-ct-zone=100
$NBCTL set Logical_Router gw0 options:dnat_force_snat_ip=172.16.0.3
$NBCTL lb-add lbgw 172.16.0.50:80 10.0.0.11:80 tcp
$NBCTL lr-lb-add gw0 lbgw
$NBCTL set Logical_Router gw0 options:mcast_relay=false
$NBCTL set Logical_Router_Port gw0-ext options:gateway_mtu=1450
# Symmetric-reply ECMP on the gateway router (conntrack-pinned next hops).
$NBCTL --ecmp-symmetric-reply lr-route-add gw0 198.51.100.0/24 172.16.0.250
$NBCTL --ecmp-symmetric-reply lr-route-add gw0 198.51.100.0/24 172.16.0.251
