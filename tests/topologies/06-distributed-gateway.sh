# A distributed router with a distributed gateway port (gateway chassis priorities), NAT
# with logical_port/external_mac (distributed dnat_and_snat), redirect-type bridged,
# an HA chassis group and a NAT exempted by an allowed/exempted address set.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12"
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24 aef0::1/64
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
$NBCTL ls-add public
$NBCTL lrp-add lr0 lr0-public 00:00:20:20:12:13 172.168.0.100/24 3000::a/64
$NBCTL lsp-add public public-lr0 -- lsp-set-type public-lr0 router \
    -- lsp-set-addresses public-lr0 router -- lsp-set-options public-lr0 router-port=lr0-public
$NBCTL lsp-add public ln-public -- lsp-set-type ln-public localnet \
    -- lsp-set-addresses ln-public unknown -- lsp-set-options ln-public network_name=phys
$NBCTL lrp-set-gateway-chassis lr0-public ch1 20
$NBCTL lrp-set-gateway-chassis lr0-public ch2 10
$NBCTL lr-nat-add lr0 snat 172.168.0.100 10.0.0.0/24
$NBCTL lr-nat-add lr0 dnat_and_snat 172.168.0.110 10.0.0.11 sw0-p1 30:54:00:00:00:03
$NBCTL lr-nat-add lr0 dnat_and_snat 172.168.0.120 10.0.0.12
$NBCTL lr-nat-add lr0 dnat_and_snat 3000::c aef0::11
$NBCTL create Address_Set name=nat_allowed addresses='"10.0.0.12"'
$NBCTL lr-nat-update-ext-ip lr0 snat 10.0.0.0/24 nat_allowed || true
$NBCTL lr-route-add lr0 0.0.0.0/0 172.168.0.1
$NBCTL lb-add lbd 172.168.0.200:80 10.0.0.11:80,10.0.0.12:80 tcp
$NBCTL lr-lb-add lr0 lbd
$NBCTL ls-lb-add sw0 lbd
$NBCTL set Logical_Router_Port lr0-public options:redirect-type=bridged || true
$NBCTL lr-add lr1
$NBCTL lrp-add lr1 lr1-sw1 00:00:00:00:ff:21 10.1.0.1/24
$NBCTL ha-chassis-group-add hagrp
$NBCTL ha-chassis-group-add-chassis hagrp ch1 30
$NBCTL ha-chassis-group-add-chassis hagrp ch2 20
hg=$($NBCTL --bare --columns=_uuid find HA_Chassis_Group name=hagrp)
$NBCTL set Logical_Router_Port lr1-sw1 ha_chassis_group="$hg"
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-lr1 -- lsp-set-type sw1-lr1 router -- lsp-set-addresses sw1-lr1 router \
    -- lsp-set-options sw1-lr1 router-port=lr1-sw1
$NBCTL lsp-add sw1 sw1-ln -- lsp-set-type sw1-ln localnet -- lsp-set-addresses sw1-ln unknown \
    -- lsp-set-options sw1-ln network_name=phys
$NBCTL lr-nat-add lr1 snat 10.1.0.1 192.168.0.0/16
$NBCTL --add-route lr-nat-add lr1 dnat_and_snat 10.1.0.50 192.168.0.5 || true
