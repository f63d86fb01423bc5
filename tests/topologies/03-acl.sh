# ACLs of every verdict on switches and port groups, with address sets and $pg_ip4 sets,
# logging and meters, stateless ACLs, and a tiered/label ACL.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12 aef0::12"
$NBCTL lsp-add sw0 sw0-p3 -- lsp-set-addresses sw0-p3 "50:54:00:00:00:03 10.0.0.13"
$NBCTL ls-add sw1
$NBCTL lsp-add sw1 sw1-p1 -- lsp-set-addresses sw1-p1 "50:54:00:00:01:01 10.0.1.11"
$NBCTL create Address_Set name=as_web addresses='"10.0.0.11","10.0.0.12"'
$NBCTL create Address_Set name=as_v6 addresses='"aef0::11"'
$NBCTL pg-add pg_web sw0-p1 sw0-p2
$NBCTL pg-add pg_db sw0-p3 sw1-p1
$NBCTL meter-add acl_meter drop 10 pktps
$NBCTL acl-add sw0 from-lport 1002 'inport == "sw0-p1" && ip4.src == $as_web' allow-related
$NBCTL acl-add sw0 to-lport 1001 'outport == "sw0-p2" && tcp.dst == 22' allow
$NBCTL acl-add sw0 to-lport 1000 'ip4.src == 10.9.0.0/16' drop
$NBCTL --log --severity=alert --name=rej --meter=acl_meter acl-add sw0 to-lport 999 \
    'udp.dst == 53' reject
$NBCTL acl-add sw0 from-lport 998 'ip6.src == $as_v6 && icmp6' allow-stateless
$NBCTL acl-add pg_web to-lport 1002 'outport == @pg_web && ip4.src == $pg_db_ip4 && tcp.dst == {80, 443}' allow-related
$NBCTL acl-add pg_web to-lport 1001 'outport == @pg_web && ip6' allow-related
$NBCTL acl-add pg_web to-lport 1000 'outport == @pg_web && ip' drop
$NBCTL acl-add pg_db from-lport 1002 'inport == @pg_db && ip4.dst == $pg_web_ip4 && tcp.dst >= 5000 && tcp.dst <= 5100' allow
$NBCTL --log acl-add pg_db from-lport 1001 'inport == @pg_db && ip6.dst == $pg_web_ip6' reject
$NBCTL --label=1234 acl-add pg_db to-lport 1003 'outport == @pg_db && sctp' allow-related
$NBCTL --apply-after-lb acl-add sw1 from-lport 1000 'ip4.dst == 10.0.1.0/24 && !udp' allow-related
$NBCTL --apply-after-lb acl-add sw1 from-lport 900 'ip4.dst == 10.0.2.0/24' drop
$NBCTL set NB_Global . options:acl_ct_translation=true || true
