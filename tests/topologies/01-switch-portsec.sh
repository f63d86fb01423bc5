# Two switches with VIF ports, port security (MAC and MAC+IP), a router port type stub,
# unknown addresses, a localnet port with a VLAN tag and a virtual port.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL lsp-set-port-security sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12"
$NBCTL lsp-set-port-security sw0-p2 "50:54:00:00:00:02"
$NBCTL lsp-add sw0 sw0-p3 -- lsp-set-addresses sw0-p3 unknown
$NBCTL lsp-add sw0 sw0-p4 -- lsp-set-addresses sw0-p4 "dynamic"
$NBCTL set Logical_Switch sw0 other_config:subnet=10.0.0.0/24 other_config:ipv6_prefix=aef0::
$NBCTL lsp-add sw0 sw0-vip -- lsp-set-addresses sw0-vip "50:54:00:00:00:10 10.0.0.10"
$NBCTL lsp-set-type sw0-vip virtual
$NBCTL set Logical_Switch_Port sw0-vip options:virtual-ip=10.0.0.10 \
    options:virtual-parents=sw0-p1,sw0-p2
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-p1 -- lsp-set-addresses sw1-p1 "50:54:00:00:01:01 192.168.1.11"
$NBCTL lsp-add sw1 ln1 -- lsp-set-type ln1 localnet -- lsp-set-addresses ln1 unknown \
    -- lsp-set-options ln1 network_name=phys
$NBCTL set Logical_Switch_Port ln1 tag_request=100
$NBCTL lsp-add sw1 sw1-vtep -- lsp-set-type sw1-vtep localport \
    -- lsp-set-addresses sw1-vtep "50:54:00:00:01:ff 192.168.1.254"
$NBCTL lsp-add sw1 sw1-ext -- lsp-set-type sw1-ext external \
    -- lsp-set-addresses sw1-ext "50:54:00:00:01:ee 192.168.1.200"
$NBCTL lsp-set-options sw1-p1 requested-chassis=ch1
$NBCTL set Logical_Switch sw1 other_config:fdb_age_threshold=300 \
    other_config:broadcast-arps-to-all-routers=false
