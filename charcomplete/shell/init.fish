# charcomplete for fish: Ctrl-Space inserts the suggestion at the cursor.
#   charcomplete init fish | source
# fish shows its own autosuggestions and lets no program supply them, so this one comes on
# a key. It is asked of `charcomplete serve` (started on first use; it exits when idle).

set -g _charcomplete_cmd @COMMAND@

function _charcomplete_insert
    set -l before (commandline --cut-at-cursor | string collect)
    set -l completion ($_charcomplete_cmd serve --ask "$before" 2>/dev/null | string collect)
    if test -n "$completion"
        commandline --insert -- "$completion"
    end
end

if test (string split . $version)[1] -ge 4
    bind ctrl-space _charcomplete_insert
else
    bind -k nul _charcomplete_insert
end
