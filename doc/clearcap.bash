# bash completion for clearcap(1).  The option lists are checked against `clearcap --help` by
# tests/integration/test_cli.py.

_clearcap()
{
    local cur prev words cword
    _init_completion || return

    local opts="-w -a --append -F --format -P --programs -B --buffer-size -k --keylog
                --srtp-keylog -f --filter --capture --plain-ipv4 -C -G -W -q --quiet -v --verbose --stats --trace --no-trace
                --no-decrypt --hep --hep-id --hep-name --hep-password --hep-classes --hep-ca --hep-insecure -h --help
                -V --version --impair --impair-seed --impair-filter"

    # After the subcommand word or the program to run, complete for them instead.
    case ${words[1]} in
        ctl)
            case $cword in
                2) COMPREPLY=($(compgen -W "all $(command ls "${XDG_RUNTIME_DIR:-/tmp/clearcap-$UID}/clearcap" \
                        2>/dev/null | sed -n 's/^ctl-//p')" -- "$cur")) ;;
                3) COMPREPLY=($(compgen -W "status pause resume reopen" -- "$cur")) ;;
                4) [[ ${words[3]} == reopen ]] && _filedir ;;
            esac
            return ;;
        report)
            case $prev in
                --svg) _filedir -d; return ;;
            esac
            [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--json --svg --help" -- "$cur")) || _filedir
            return ;;
        extract)
            case $prev in
                -o) _filedir -d; return ;;
            esac
            [[ $cur == -* ]] && COMPREPLY=($(compgen -W "-o --both --help" -- "$cur")) || _filedir
            return ;;
    esac

    # The first word that is neither an option nor an option's argument is the program.
    local i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --) _command_offset $((i + 1)); return ;;
            -w|-F|--format|-P|--programs|-B|--buffer-size|-k|--keylog|--srtp-keylog|-f|--filter|\
            --capture|-C|-G|-W|--stats|--impair|--impair-seed|--impair-filter) ((i++)) ;;
            -*) ;;
            *) _command_offset $i; return ;;
        esac
    done

    case $prev in
        -w|-k|--keylog|--srtp-keylog|--stats|--hep-ca) _filedir; return ;;
        -F|--format) COMPREPLY=($(compgen -W "pcapng pcap" -- "$cur")); return ;;
        --capture)
            local classes="stun turn dtls-handshake dtls-app dtls rtp rtcp sctp tcp sip other wire plaintext relay all"
            local head=${cur%,*} last=${cur##*,}
            [[ $head == "$cur" ]] && head= || head+=,
            COMPREPLY=($(compgen -P "$head" -W "$classes" -- "$last"))
            compopt -o nospace
            return ;;
        -P|--programs|-B|--buffer-size|-f|--filter|-C|-G|-W|--impair|--impair-seed|--impair-filter) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ $cword == 1 ]]; then
        COMPREPLY=($(compgen -W "ctl report extract decrypt lab" -- "$cur"))
        COMPREPLY+=($(compgen -W "$opts" -- "$cur"))
    fi
} &&
    complete -F _clearcap clearcap
