#!/bin/bash
# Starts a private OVN Northbound + Southbound ovsdb-server and ovn-northd in a temporary
# directory, runs one topology script against it, waits for northd to catch up and writes
# every Logical_Flow as one line:
#   datapath<TAB>pipeline<TAB>table<TAB>priority<TAB>match<TAB>actions
# sorted, to pipeline/tests/data/<script name>.lflows (or to $OUT if set).
#
# Usage: tests/topologies/dump-lflows.sh tests/topologies/NN-name.sh
#        tests/topologies/dump-lflows.sh --all        (every NN-*.sh in this directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "${1:-}" = "--all" ]; then
    for s in "$here"/[0-9][0-9]-*.sh; do
        "$here/$(basename "$0")" "$s"
    done
    exit 0
fi

script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
name=$(basename "$script" .sh)
out=${OUT:-$repo/pipeline/tests/data/$name.lflows}
mkdir -p "$(dirname "$out")"

dir=$(mktemp -d /tmp/southpaw-lflows.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

export OVS_RUNDIR=$dir OVS_LOGDIR=$dir OVS_DBDIR=$dir OVN_RUNDIR=$dir OVN_LOGDIR=$dir OVN_DBDIR=$dir

ovsdb-tool create "$dir/nb.db" /usr/share/ovn/ovn-nb.ovsschema
ovsdb-tool create "$dir/sb.db" /usr/share/ovn/ovn-sb.ovsschema
ovsdb-server "$dir/nb.db" --remote="punix:$dir/nb.sock" --unixctl="$dir/nb.ctl" \
    --pidfile="$dir/nb.pid" --log-file="$dir/nb.log" -vconsole:off 2>/dev/null &
pids+=($!)
ovsdb-server "$dir/sb.db" --remote="punix:$dir/sb.sock" --unixctl="$dir/sb.ctl" \
    --pidfile="$dir/sb.pid" --log-file="$dir/sb.log" -vconsole:off 2>/dev/null &
pids+=($!)
# Wait for both sockets to exist (a condition, not a fixed sleep).
for _ in $(seq 1 200); do
    [ -S "$dir/nb.sock" ] && [ -S "$dir/sb.sock" ] && break
    sleep 0.05
done
ovn-northd --ovnnb-db="unix:$dir/nb.sock" --ovnsb-db="unix:$dir/sb.sock" \
    --unixctl="$dir/northd.ctl" --pidfile="$dir/northd.pid" --log-file="$dir/northd.log" -vconsole:off 2>/dev/null &
pids+=($!)

export NBCTL="ovn-nbctl --db=unix:$dir/nb.sock"
export SBCTL="ovn-sbctl --db=unix:$dir/sb.sock"
$NBCTL init
# Chassis for gateway ports and is_chassis_resident(): a fake one registered in the SB.
$SBCTL chassis-add ch1 geneve 127.0.0.1
$SBCTL chassis-add ch2 geneve 127.0.0.2
# Advertise what a 23.03 ovn-controller advertises, so northd emits ct_lb_mark, ct_mark.*
# and the ct_lb_mark(...; skip_snat) forms. A script may remove these (see 11-legacy-*.sh).
for ch in ch1 ch2; do
    $SBCTL set Chassis $ch other_config:port-up-notif=true \
        other_config:ct-no-masked-label=true other_config:mac-binding-timestamp=true \
        other_config:ovn-ct-lb-related=true
done

bash -euo pipefail "$script"

$NBCTL --wait=sb --timeout=60 sync

$SBCTL --format=json --columns=_uuid,external_ids list Datapath_Binding >"$dir/dp.json"
$SBCTL --format=json --columns=_uuid,datapaths list Logical_DP_Group >"$dir/dpg.json"
$SBCTL --format=json --columns=chassis,variables list Chassis_Template_Var >"$dir/tv.json"
$SBCTL --format=json \
    --columns=logical_datapath,logical_dp_group,pipeline,table_id,priority,match,actions \
    list Logical_Flow >"$dir/lf.json"

python3 - "$dir" "$out" <<'PY'
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
def rows(f):
    j = json.load(open(f"{d}/{f}"))
    return [dict(zip(j["headings"], r)) for r in j["data"]]
def uuid(v):
    return v[1] if isinstance(v, list) and v and v[0] == "uuid" else None
def elems(v):
    if isinstance(v, list) and v and v[0] == "set":
        return v[1]
    return [v]
names = {}
for r in rows("dp.json"):
    ext = dict(r["external_ids"][1])
    names[uuid(r["_uuid"])] = ext.get("name", uuid(r["_uuid"])[:8])
groups = {}
for r in rows("dpg.json"):
    groups[uuid(r["_uuid"])] = ",".join(sorted(names.get(uuid(x), "?") for x in elems(r["datapaths"])))
lines = set()
for r in rows("lf.json"):
    dp = uuid(r["logical_datapath"])
    dpg = uuid(r["logical_dp_group"])
    who = names.get(dp, "?") if dp else groups.get(dpg, "?")
    def clean(s):
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    lines.add("\t".join([who, r["pipeline"], str(r["table_id"]), str(r["priority"]),
                         clean(r["match"]), clean(r["actions"])]))
with open(out, "w") as f:
    for l in sorted(lines):
        f.write(l + "\n")
print(f"{out}: {len(lines)} flows")
# Template variables of chassis ch1 (for flows that use ^name): name<TAB>value lines.
tv = out[: -len(".lflows")] + ".templates"
vars_ = {}
for r in rows("tv.json"):
    if r["chassis"] == "ch1":
        vars_ = dict(r["variables"][1])
if vars_:
    with open(tv, "w") as f:
        for k in sorted(vars_):
            f.write(f"{k}\t{vars_[k]}\n")
elif os.path.exists(tv):
    os.remove(tv)
PY
