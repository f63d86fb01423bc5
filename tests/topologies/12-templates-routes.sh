# Load-balancer templates (Chassis_Template_Var), route tables, BFD, VLAN passthrough,
# reside-on-redirect-chassis, router ports peered directly, policy with pkt_mark, and a
# remote (interconnect) port.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12"
$NBCTL set Logical_Switch sw0 other_config:vlan-passthru=true
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
# Templated load balancers: the VIP, port and backends come from each chassis' variables.
$NBCTL create Chassis_Template_Var chassis=ch1 \
    variables='{vip="10.0.0.100",vport="8080",backends="10.0.0.11:80,10.0.0.12:80"}'
$NBCTL --template lb-add lbt "^vip:^vport" "^backends" tcp ipv4
$NBCTL ls-lb-add sw0 lbt
$NBCTL lr-lb-add lr0 lbt
# Route tables.
$NBCTL lrp-add lr0 lr0-ext 00:00:00:00:ff:02 172.16.0.1/24
$NBCTL set Logical_Router_Port lr0-sw0 options:route_table=rtb1
$NBCTL --route-table=rtb1 lr-route-add lr0 192.168.100.0/24 172.16.0.254
$NBCTL lr-route-add lr0 0.0.0.0/0 172.16.0.253
# BFD on a static route next hop.
bfd=$($NBCTL create BFD logical_port=lr0-ext dst_ip=172.16.0.254 status=up)
$NBCTL --bfd="$bfd" lr-route-add lr0 192.168.200.0/24 172.16.0.254 lr0-ext
# Distributed gateway port with reside-on-redirect-chassis.
$NBCTL lrp-set-gateway-chassis lr0-ext ch1 10
$NBCTL set Logical_Router_Port lr0-sw0 options:reside-on-redirect-chassis=true
# Two routers peered directly.
$NBCTL lr-add lr1
$NBCTL lrp-add lr0 lr0-lr1 00:00:00:00:ff:10 100.64.1.1/30 peer=lr1-lr0
$NBCTL lrp-add lr1 lr1-lr0 00:00:00:00:ff:11 100.64.1.2/30 peer=lr0-lr1
$NBCTL lr-route-add lr1 10.0.0.0/24 100.64.1.1
# Policy with pkt_mark.
$NBCTL lr-policy-add lr0 500 "ip4.src == 10.0.0.12" allow pkt_mark=100
# A remote (interconnect) port on a transit switch.
$NBCTL ls-add ts
$NBCTL lsp-add ts ts-remote -- lsp-set-type ts-remote remote \
    -- lsp-set-addresses ts-remote "00:00:00:00:ee:01 169.254.100.2/24" \
    -- lsp-set-options ts-remote requested-chassis=ch2
$NBCTL lsp-add ts ts-local -- lsp-set-addresses ts-local "00:00:00:00:ee:02 169.254.100.3"
