#!/bin/sh
# Open MPI's launch agent on the emulated cluster (see testbed.sh), used in place of
# ssh: `rsh-agent.sh HOST CMD...` runs CMD in the network namespace HOST with the
# hostname HOST (a UTS namespace of its own), so Open MPI sees one node per namespace.
# Like ssh, it joins CMD's words into one shell command.
host="$1"
shift
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
