# DHCPv4 and DHCPv6 options (stateful and stateless), DNS records on a switch.
$NBCTL ls-add sw0
$NBCTL lsp-add sw0 sw0-p1 -- lsp-set-addresses sw0-p1 "50:54:00:00:00:01 10.0.0.11 aef0::11"
$NBCTL lsp-add sw0 sw0-p2 -- lsp-set-addresses sw0-p2 "50:54:00:00:00:02 10.0.0.12 aef0::12"
$NBCTL lsp-add sw0 sw0-p3 -- lsp-set-addresses sw0-p3 "50:54:00:00:00:03 10.0.0.13"
d4=$($NBCTL create DHCP_Options cidr=10.0.0.0/24 \
    options='"lease_time"="3600" "router"="10.0.0.1" "server_id"="10.0.0.1" "server_mac"="c0:ff:ee:00:00:01" "dns_server"="{8.8.8.8,8.8.4.4}" "domain_name"="\"ovn.org\"" "mtu"="1442" "classless_static_route"="{30.0.0.0/24,10.0.0.10, 0.0.0.0/0,10.0.0.1}" "hostname"="\"vm1\"" "tftp_server"="\"10.0.0.200\"" "bootfile_name"="\"pxe.efi\"" "ntp_server"="{10.0.0.201}" "wpad"="\"http://wpad.example/wpad.dat\"" "domain_search_list"="\"a.example,b.example\""')
d6=$($NBCTL create DHCP_Options cidr="aef0\:\:/64" \
    options='"server_id"="00:00:00:10:00:01" "dns_server"="{ae70::1,ae70::2}" "domain_search"="\"ovn.org\""')
d6s=$($NBCTL create DHCP_Options cidr="aef0\:\:/64" \
    options='"server_id"="00:00:00:10:00:02" "dhcpv6_stateless"="true" "dns_server"="{ae70::3}"')
$NBCTL lsp-set-dhcpv4-options sw0-p1 "$d4"
$NBCTL lsp-set-dhcpv6-options sw0-p1 "$d6"
$NBCTL lsp-set-dhcpv4-options sw0-p2 "$d4"
$NBCTL lsp-set-dhcpv6-options sw0-p2 "$d6s"
$NBCTL lsp-set-dhcpv4-options sw0-p3 "$d4"
$NBCTL set Logical_Switch_Port sw0-p3 options:hostname='"\"p3host\""'
dns=$($NBCTL create DNS records='"vm1.ovn.org"="10.0.0.11 aef0::11" "vm2.ovn.org"="10.0.0.12" "11.0.0.10.in-addr.arpa"="vm1.ovn.org"')
$NBCTL add Logical_Switch sw0 dns_records "$dns"
