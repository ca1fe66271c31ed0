# charcomplete for zsh: a zsh-autosuggestions strategy, and learning from the commands you run.
# Load it after zsh-autosuggestions:   eval "$(charcomplete init zsh)"
# then put it first:                   ZSH_AUTOSUGGEST_STRATEGY=(charcomplete history)
# Suggestions come from `charcomplete serve` over a Unix socket (zsh/net/socket: no process
# per keystroke). The server is started when a prompt finds it missing and exits when idle;
# while it is down the strategy suggests nothing and prints nothing.

typeset -ga _charcomplete_cmd=(@COMMAND@)
typeset -ga _charcomplete_serve_args=(@SERVE_ARGS@)
typeset -g _charcomplete_socket=@SOCKET@
typeset -g _charcomplete_started=0

zmodload zsh/net/socket 2>/dev/null || return 0
zmodload zsh/datetime 2>/dev/null

# REPLY: $1 as the inside of a JSON string.
_charcomplete_json_quote() {
  emulate -L zsh
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/}
  REPLY=${s//[[:cntrl:]]/}
}

# REPLY: the JSON string that starts right after an opening quote in $1 (the server sends
# UTF-8 as is, so only \" \\ and the control escapes need undoing).
_charcomplete_json_unquote() {
  emulate -L zsh
  local rest=$1 out= c
  while (( ${#rest} )); do
    c=${rest[1]}
    if [[ $c == '"' ]]; then
      REPLY=$out
      return 0
    elif [[ $c == '\' ]]; then
      case ${rest[2]} in
        n) out+=$'\n' ;;
        t) out+=$'\t' ;;
        r|b|f) ;;
        u) out+=${(#):-0x${rest[3,6]}}; rest=${rest[7,-1]}; continue ;;
        *) out+=${rest[2]} ;;
      esac
      rest=${rest[3,-1]}
    else
      out+=$c
      rest=${rest[2,-1]}
    fi
  done
  return 1
}

# REPLY: the server's answer line to the JSON request $1; fails quietly when it is down.
_charcomplete_request() {
  emulate -L zsh
  local fd line
  [[ -S $_charcomplete_socket && -O $_charcomplete_socket ]] || return 1
  zsocket $_charcomplete_socket 2>/dev/null || return 1
  fd=$REPLY
  print -r -u $fd -- "$1" 2>/dev/null
  read -r -t ${2:-1} -u $fd line 2>/dev/null
  exec {fd}>&-
  REPLY=$line
  [[ -n $line ]]
}

_zsh_autosuggest_strategy_charcomplete() {
  emulate -L zsh
  typeset -g suggestion=
  [[ -n $1 ]] || return
  local REPLY
  _charcomplete_json_quote "$1"
  _charcomplete_request "{\"text\": \"$REPLY\"}" || return
  [[ $REPLY == *'"completion": "'* ]] || return
  _charcomplete_json_unquote "${REPLY#*\"completion\": \"}" || return
  [[ -n $REPLY ]] && suggestion="$1$REPLY"
}

# Executed commands teach the server, except lines starting with a space and those the
# plugin's ZSH_AUTOSUGGEST_HISTORY_IGNORE pattern leaves out (the server also skips the
# settings' "exclude" globs).
_charcomplete_preexec() {
  emulate -L zsh
  local line=$1 REPLY
  [[ -n $line && $line != ' '* ]] || return
  if [[ -n $ZSH_AUTOSUGGEST_HISTORY_IGNORE ]] && [[ $line == ${~ZSH_AUTOSUGGEST_HISTORY_IGNORE} ]]; then
    return
  fi
  _charcomplete_json_quote "$line"
  _charcomplete_request "{\"learn\": \"$REPLY\"}" 0.3
}

# Before a prompt: start the server when it is not there (at most every 30 seconds).
_charcomplete_precmd() {
  emulate -L zsh
  local REPLY
  if zsocket $_charcomplete_socket 2>/dev/null; then
    exec {REPLY}>&-
    return
  fi
  (( ${EPOCHSECONDS:-0} - _charcomplete_started < 30 )) && return
  _charcomplete_started=${EPOCHSECONDS:-0}
  "${_charcomplete_cmd[@]}" serve --detach "${_charcomplete_serve_args[@]}" >/dev/null 2>&1 &!
}

# End accepts the suggestion wherever the terminal sends it: zsh-autosuggestions accepts on
# end-of-line, but a bare zsh (zsh -f, no distribution zshrc) binds no End key, and then the
# key's last byte went in as "~". Only sequences bound to nothing are bound.
() {
  emulate -L zsh
  zmodload zsh/terminfo 2>/dev/null
  local key map
  for key in ${terminfo[kend]} $'\e[F' $'\eOF' $'\e[4~' $'\e[8~'; do
    for map in emacs viins; do
      [[ $(bindkey -M $map -- $key 2>/dev/null) == *undefined-key ]] && bindkey -M $map -- $key end-of-line
    done
  done
}

autoload -Uz add-zsh-hook
add-zsh-hook preexec _charcomplete_preexec
add-zsh-hook precmd _charcomplete_precmd
(( ${+ZSH_AUTOSUGGEST_STRATEGY} )) || typeset -ga ZSH_AUTOSUGGEST_STRATEGY=(history)
(( ${ZSH_AUTOSUGGEST_STRATEGY[(Ie)charcomplete]} )) || ZSH_AUTOSUGGEST_STRATEGY=(charcomplete $ZSH_AUTOSUGGEST_STRATEGY)
