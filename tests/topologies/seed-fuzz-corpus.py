"""Seeds fuzz/corpus/lflow_match and fuzz/corpus/lflow_actions with real northd texts from
pipeline/tests/data/*.lflows: one text per interesting construct (so every action and
match feature has a seed), topped up with random others. Deterministic.

Usage: python3 tests/topologies/seed-fuzz-corpus.py
"""
import glob, hashlib, os, random

repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.chdir(os.path.join(repo, "fuzz"))
def unesc(s):
    out=[];i=0
    while i<len(s):
        c=s[i]
        if c=='\\' and i+1<len(s):
            n=s[i+1]; out.append({'t':'\t','n':'\n'}.get(n,n)); i+=2
        else: out.append(c); i+=1
    return ''.join(out)
ms=set(); acts=set()
for f in sorted(glob.glob(os.path.join(repo, 'pipeline/tests/data/*.lflows'))):
    for line in open(f):
        c=line.rstrip('\n').split('\t')
        if '^' in c[4] or '^' in c[5]: continue
        ms.add(unesc(c[4])); acts.add(unesc(c[5]))
akeys=['ct_lb_mark(','ct_lb(','trigger_event','put_dhcpv6_opts','put_dhcp_opts','put_nd_ra_opts','dns_lookup','lookup_arp(','lookup_nd(','lookup_arp_ip','lookup_nd_ip','get_arp','put_arp','get_nd','put_nd(','ct_commit {','ct_commit_nat','ct_dnat(','ct_snat(','ct_snat_in_czone(','ct_dnat_in_czone','icmp4_error','icmp6_error','tcp_reset','sctp_abort','reject','nd_na_router','nd_ns','arp {','select(','commit_lb_aff','chk_lb_aff','chk_lb_hairpin_reply','ct_snat_to_vip','check_pkt_larger','log(','set_queue','set_meter','bind_vport','handle_svc_check','handle_dhcpv6_reply','handle_bfd_msg','get_fdb','put_fdb','igmp','fwd_group','commit_ecmp_nh','chk_ecmp_nh','<->','ip.ttl--','next(pipeline','drop;']
mkeys=['is_chassis_resident','$','@','{','<=','>=','!(','||','nd_ns','nd_ra','mldv','ip6.mcast','ip4.mcast','eth.mcast','ct.est','ct_mark','ct_label','/','[','xxreg','flags.','udp','tcp.flags','ip.is_frag','arp.op','vlan','icmp4.type','nd.target','eth.bcast','inport ==','outport','pkt.mark','1']
def pick(items, keys, n):
    items=sorted(items); out=[]
    for k in keys:
        c=[i for i in items if k in i and i not in out]
        if c: out.append(min(c, key=len) if len(out)%2 else max(c, key=len))
    rest=[i for i in items if i not in out]; random.Random(3).shuffle(rest)
    return (out+rest)[:n]
for d, items, keys in (('corpus/lflow_match', ms, mkeys), ('corpus/lflow_actions', acts, akeys)):
    for old in glob.glob(d+'/*'): os.remove(old)
    for it in pick(items, keys, max(34, len(keys))):
        h=hashlib.sha1(it.encode()).hexdigest()[:16]
        open(f'{d}/{h}', 'w').write(it)
    print(d, len(os.listdir(d)))
