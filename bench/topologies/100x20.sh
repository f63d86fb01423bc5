#!/bin/sh
# The control-plane benchmark topology: one router lr0 joining SWITCHES logical switches
# (default 100), PORTS ports each (default 20), every port with addresses and port
# security, all ports in port group pg_all with one stateful ACL. 100 x 20 gives about
# 11,800 logical flows.
#
#   ls<i>    10.<i/250>.<i%250>.0/24   router port lr0-ls<i> .1, 02:00:00:00:<hi>:<lo>
#   p<i>_<j> 10.<i/250>.<i%250>.<j+10>, 0a:00:00:<hi>:<lo>:<j>
#
# Usage: NBCTL="ovn-nbctl --db=unix:/path/nb.sock" [SWITCHES=100] [PORTS=20] 100x20.sh
# Writes in a few big ovn-nbctl transactions (one per BATCH switches), not one process
# per port.
set -eu
: "${NBCTL:?set NBCTL to the ovn-nbctl command line}"
SWITCHES=${SWITCHES:-100}
PORTS=${PORTS:-20}
BATCH=${BATCH:-25}

$NBCTL lr-add lr0

i=0
while [ "$i" -lt "$SWITCHES" ]; do
    set --
    end=$((i + BATCH))
    [ "$end" -gt "$SWITCHES" ] && end=$SWITCHES
    while [ "$i" -lt "$end" ]; do
        net="10.$((i / 250)).$((i % 250))"
        hi=$(printf '%02x' $((i / 256)))
        lo=$(printf '%02x' $((i % 256)))
        set -- "$@" -- ls-add "ls$i" \
            -- lrp-add lr0 "lr0-ls$i" "02:00:00:00:$hi:$lo" "$net.1/24" \
            -- lsp-add "ls$i" "ls$i-lr0" \
            -- lsp-set-type "ls$i-lr0" router \
            -- lsp-set-addresses "ls$i-lr0" router \
            -- lsp-set-options "ls$i-lr0" "router-port=lr0-ls$i"
        j=0
        while [ "$j" -lt "$PORTS" ]; do
            addr="0a:00:00:$hi:$lo:$(printf '%02x' "$j") $net.$((j + 10))"
            set -- "$@" -- lsp-add "ls$i" "p${i}_$j" \
                -- lsp-set-addresses "p${i}_$j" "$addr" \
                -- lsp-set-port-security "p${i}_$j" "$addr"
            j=$((j + 1))
        done
        i=$((i + 1))
    done
    # "$1" is the leading "--".
    shift
    $NBCTL "$@"
done

# One port group with every port and one stateful ACL on it.
set --
i=0
while [ "$i" -lt "$SWITCHES" ]; do
    j=0
    while [ "$j" -lt "$PORTS" ]; do
        set -- "$@" "p${i}_$j"
        j=$((j + 1))
    done
    i=$((i + 1))
done
$NBCTL pg-add pg_all "$@" \
    -- --type=port-group acl-add pg_all from-lport 1002 'inport == @pg_all && ip4' allow-related
