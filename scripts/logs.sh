#!/usr/bin/env bash
# Show a program's log: scripts/logs.sh NAME [-f] [-n N]
# NAME: router, healthcheck, supervisord (and aistudio, webai when configured).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() { echo "usage: $0 NAME [-f] [-n LINES]" >&2; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
name="$1"; shift
follow=""; lines=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    -f|--follow) follow="-F"; shift ;;
    -n|--lines) [[ $# -ge 2 ]] || usage; lines="$2"; shift 2 ;;
    -n*) lines="${1#-n}"; shift ;;
    *) usage ;;
  esac
done
[[ $lines =~ ^[0-9]+$ ]] || usage

mapfile -t files < <("$PY" -m ops.supervise logfiles "$name")
[[ ${#files[@]} -gt 0 ]] || exit 2
if [[ -z $follow ]]; then
  existing=()
  for f in "${files[@]}"; do [[ -e $f ]] && existing+=("$f"); done
  if [[ ${#existing[@]} -eq 0 ]]; then
    echo "no log yet: ${files[*]}" >&2
    exit 1
  fi
  files=("${existing[@]}")
fi
exec tail -n "$lines" $follow -- "${files[@]}"
