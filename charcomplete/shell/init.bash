# charcomplete for bash: Ctrl-Space inserts the suggestion at the cursor.
#   eval "$(charcomplete init bash)"
# bash lets no program show ghost text, so the suggestion comes on a key. It is asked of
# `charcomplete serve` (started on first use; it exits when idle).

_charcomplete_cmd=(@COMMAND@)

_charcomplete_insert() {
  local before=${READLINE_LINE:0:READLINE_POINT} completion
  completion=$("${_charcomplete_cmd[@]}" serve --ask "$before" 2>/dev/null) || return 0
  READLINE_LINE=$before$completion${READLINE_LINE:READLINE_POINT}
  READLINE_POINT=$(( READLINE_POINT + ${#completion} ))
}

bind -x '"\C-@": _charcomplete_insert'
