#!/usr/bin/env bash
#
# The layering check of src/ (make test runs it as the suite "layers").
#
#   scripts/check-layers.sh [SRCDIR]    check SRCDIR (default: src/ of the checkout)
#   scripts/check-layers.sh --self-test  check that it catches planted bad includes
#
# Dependencies point one way: a file may include only headers of its own rank
# or lower,
#   sqsn.h (0) < common/ (1) < security/ (2) < queue/ (3) < push/ (4) < topic/ (5)
#     < function/ (6) < api/ (7)
# worker/ may include sqsn.h, common/, security/ and queue/ only; worker/ and
# api/ headers are included only from their own folder and from src/sqsn.c
# (_PG_init), which may include everything.
# Our headers are spelled "sqsn.h" or "<subsystem>/<header>.h" (with -I src);
# a bare "<header>.h" is allowed only for a header of the same folder.
# Includes that name no file of SRCDIR are not ours (PostgreSQL's
# "utils/builtins.h", "common/hashfn.h") and are left alone.
# Every offending include is printed as file:line; the exit status is 1 if
# there is any. A flat SRCDIR (no subsystem folders) has nothing to check.

set -u -o pipefail

declare -A RANK=([common]=1 [security]=2 [queue]=3 [push]=4 [topic]=5 [function]=6 [api]=7 [worker]=3)
ORDER='sqsn.h < common < security < queue < push < topic < function < api; worker: up to queue'

# check SRCDIR: print the offending includes, return 1 if any.
check() {
	local src=${1%/} f rel dir own lno inc target err bad=0 n=0
	if [ -z "$(find "$src" -mindepth 2 -name '*.[ch]' -print -quit)" ]; then
		echo "layers: $src has no subsystem folders: nothing to check"
		return 0
	fi
	while IFS= read -r f; do
		rel=${f#"$src"/}
		dir=${rel%/*}
		[ "$dir" = "$rel" ] && dir=""
		if [ -n "$dir" ] && [ -z "${RANK[$dir]:-}" ]; then
			echo "$f: folder $dir/ has no rank in scripts/check-layers.sh"
			bad=$((bad + 1))
			continue
		fi
		own=0
		[ -n "$dir" ] && own=${RANK[$dir]}
		while IFS=: read -r lno inc; do
			inc=${inc#*\"}
			inc=${inc%%\"*}
			err=""
			case $inc in
			/* | ./* | ../* | */../*)
				err="a relative path: write \"sqsn.h\" or \"<subsystem>/<header>.h\"" ;;
			*/*/*)
				[ -f "$src/$inc" ] || continue
				err="write \"<subsystem>/<header>.h\""
				;;
			*/*)
				[ -f "$src/$inc" ] || continue
				target=${inc%%/*}
				if [ -z "${RANK[$target]:-}" ]; then
					err="folder $target/ has no rank in scripts/check-layers.sh"
				elif [ "$rel" = sqsn.c ] || [ "$target" = "$dir" ]; then
					:
				elif [ "$target" = worker ] || [ "$target" = api ]; then
					err="$target/ headers are for src/$target/ and src/sqsn.c only"
				elif [ "${RANK[$target]}" -gt "$own" ]; then
					err="${dir:-$rel} (rank $own) must not include $target/ (rank ${RANK[$target]})"
				fi
				;;
			*)
				if [ -f "$src/${dir:+$dir/}$inc" ] || { [ "$inc" = sqsn.h ] && [ -f "$src/sqsn.h" ]; }; then
					:
				elif [ -f "$src/$inc" ]; then
					err="of src/'s own headers only \"sqsn.h\" may be included"
				else
					target=$(cd "$src" && find . -mindepth 2 -name "$inc" | sed 's|^\./||' | head -n 1)
					[ -n "$target" ] || continue
					err="a header of another folder: write \"$target\""
				fi
				;;
			esac
			n=$((n + 1))
			[ -z "$err" ] && continue
			echo "$f:$lno: #include \"$inc\": $err"
			bad=$((bad + 1))
		done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
	done < <(find "$src" -name '*.[ch]' | LC_ALL=C sort)
	if [ "$bad" -gt 0 ]; then
		echo "layers: $bad include(s) break the layering ($ORDER)"
		return 1
	fi
	echo "layers: ok ($n includes of our own headers follow the order)"
}

# A good tree, then the same tree with one bad include planted at a time:
# the good one must pass, each bad one must fail naming the planted line.
self_test() {
	local tmp t file inc out fails=0 n=0
	tmp=$(mktemp -d) || exit 1
	# shellcheck disable=SC2064  # $tmp is expanded now, on purpose
	trap "rm -rf '$tmp'" EXIT
	t=$tmp/good
	mkdir -p "$t"/{common,security,queue,push,topic,function,api,worker} "$tmp/flat"
	put() { # FILE INCLUDE...: a file made of these includes
		local f=$1
		shift
		printf '#include "%s"\n' "$@" >"$f"
	}
	put "$t/sqsn.h" postgres.h
	put "$t/sqsn.c" postgres.h sqsn.h api/api.h worker/worker.h topic/topic.h
	put "$t/common/common.h" sqsn.h utils/builtins.h common/hashfn.h
	put "$t/common/names.c" postgres.h common/common.h common.h
	put "$t/security/security.h" common/common.h
	put "$t/queue/queue.h" security/security.h
	put "$t/queue/message.c" sqsn.h queue/queue.h common/common.h
	put "$t/push/push.h" queue/queue.h
	put "$t/push/outbox.c" push/push.h
	put "$t/topic/topic.h" push/push.h
	put "$t/topic/publish.c" topic/topic.h queue/queue.h
	put "$t/function/function.h" topic/topic.h
	put "$t/function/batch.c" function/function.h queue/queue.h
	put "$t/api/api.h" topic/topic.h
	put "$t/api/server.c" api/api.h topic/topic.h api.h
	put "$t/worker/worker.h" queue/queue.h
	put "$t/worker/worker.c" worker/worker.h security/security.h
	put "$tmp/flat/sqsn.c" sqsn.h api.h
	put "$tmp/flat/sqsn.h" postgres.h
	if out=$(check "$t") && out=$out$'\n'$(check "$tmp/flat"); then
		echo "self-test: a good tree and a flat tree pass ... ok"
	else
		printf 'self-test: a good tree or a flat tree fails ... FAILED\n%s\n' "$out"
		fails=$((fails + 1))
	fi
	while read -r file inc; do
		rm -rf "$tmp/bad"
		cp -r "$t" "$tmp/bad"
		printf '#include "%s"\n' "$inc" >>"$tmp/bad/$file"
		n=$((n + 1))
		if out=$(check "$tmp/bad") || ! grep -qF "$tmp/bad/$file:$(wc -l <"$tmp/bad/$file"):" <<<"$out"; then
			printf 'self-test: planted "%s" in %s not caught ... FAILED\n%s\n' "$inc" "$file" "$out"
			fails=$((fails + 1))
		else
			echo "self-test: planted \"$inc\" in $file ... caught"
		fi
	done <<'EOF'
queue/message.c topic/topic.h
common/names.c security/security.h
sqsn.h common/common.h
topic/publish.c api/api.h
topic/publish.c function/function.h
function/batch.c api/api.h
queue/message.c worker/worker.h
worker/worker.c push/push.h
topic/publish.c api.h
push/outbox.c ../queue/queue.h
EOF
	[ "$fails" = 0 ] || {
		echo "layers self-test: $fails check(s) failed"
		return 1
	}
	echo "layers self-test: ok ($n planted includes caught)"
}

case ${1:-} in
--self-test) self_test ;;
-h | --help) sed -n '3,7p' "$0" ;;
"") cd "$(dirname "${BASH_SOURCE[0]}")/.." && check src ;;
*) check "$1" ;;
esac
