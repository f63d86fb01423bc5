# IGMP/MLD snooping and querier on switches, multicast relay on a router, flood options,
# QoS rules (DSCP marking and rate limits) and a port with QoS queue settings.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12"
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-p1 -- lsp-set-addresses sw1-p1 "50:54:00:00:01:01 10.0.1.11"
$NBCTL set Logical_Switch sw0 other_config:mcast_snoop=true other_config:mcast_querier=true \
    other_config:mcast_ip4_src=10.0.0.254 other_config:mcast_eth_src=00:00:00:00:00:fe \
    other_config:mcast_flood_unregistered=false other_config:mcast_table_size=1024
$NBCTL set Logical_Switch sw1 other_config:mcast_snoop=true other_config:mcast_querier=false
$NBCTL lsp-set-options sw0-p2 mcast_flood_reports=true mcast_flood=true
$NBCTL lr-add lr0
$NBCTL lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24 aef0::1/64
$NBCTL lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 10.0.1.1/24
$NBCTL lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router \
    -- lsp-set-options sw0-lr0 router-port=lr0-sw0
$NBCTL lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router \
    -- lsp-set-options sw1-lr0 router-port=lr0-sw1
$NBCTL set Logical_Router lr0 options:mcast_relay=true
$NBCTL set Logical_Router_Port lr0-sw0 options:mcast_flood=true
$NBCTL qos-add sw0 from-lport 100 'inport == "sw0-p1"' dscp=10
$NBCTL qos-add sw0 from-lport 101 'inport == "sw0-p2" && ip4' rate=1000 burst=200
$NBCTL qos-add sw0 to-lport 100 'outport == "sw0-p1" && udp' rate=500 dscp=12
$NBCTL set Logical_Switch_Port sw0-p1 options:qos_max_rate=10000000 options:qos_burst=1000000
$NBCTL lsp-add sw0 ln0 -- lsp-set-type ln0 localnet -- lsp-set-addresses ln0 unknown \
    -- lsp-set-options ln0 network_name=phys
$NBCTL set Logical_Switch_Port ln0 options:qos_max_rate=10000000 options:qos_burst=1000000 \
    options:qdisc_queue_id=5
