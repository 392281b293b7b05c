# Shared by the hack/ scripts that build Go programs from the Go module proxy into a cache folder outside the
# repo (e2e-assets.sh, relying-parties.sh, go-tools.sh). Source it after setting gomodule_log_prefix.
#
# A program is built inside a throwaway module that requires the upstream module at its release, with the
# upstream's go directive, godebug settings and replace lines: Go ignores a dependency's replaces, so without
# them the build would use other versions than the release does.

gomodule_log_prefix=${gomodule_log_prefix:-gomodule}

log() { echo "$gomodule_log_prefix: $*" >&2; }
die() {
	echo "$gomodule_log_prefix: error: $*" >&2
	exit 1
}

gomod_field() { # $1 = module@version, $2 = field of `go mod download -json`
	go mod download -json "$1" | sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}$/\1/p"
}

gomod_directive() { # $1 = go.mod, $2 = directive: each entry, single-line or in a ( ) block, comments dropped
	go mod edit -print "$1" | awk -v kw="$2" '
		{ sub(/[ \t]*\/\/.*$/, "") }
		$0 == kw " (" { block = 1; next }
		block && $0 == ")" { block = 0; next }
		block { sub(/^[ \t]+/, ""); if ($0 != "") print; next }
		index($0, kw " ") == 1 { print substr($0, length(kw) + 2) }'
}

# Writes $4/go.mod for module local.invalid/$1 requiring $2@$3. The upstream's local replaces of modules whose
# path starts with $6 (=> ./staging/..., => ../api) become "X => X $5": the sibling modules released at that
# version. Its other local replaces are dropped (the released modules its go.mod requires stand in; etcd's
# "=> ./FORBIDDEN_DEPENDENCY" guards name no real module). go.sum is kept while go.mod is unchanged.
throwaway_module() { # $1 = name, $2 = module path, $3 = version, $4 = folder, [$5 = sibling version, $6 = prefix]
	local name=$1 module=$2 version=$3 dir=$4 local_version=${5:-} local_prefix=${6:-} upstream old arrow new
	local old_version
	mkdir -p "$dir"
	upstream=$(cd "$dir" && gomod_field "$module@$version" GoMod)
	[[ -f $upstream ]] || die "could not download $module@$version from the Go module proxy"
	local -a replaces=() godebug=()
	mapfile -t godebug < <(gomod_directive "$upstream" godebug)
	while read -r old arrow new; do
		old_version=""
		if [[ $arrow != "=>" ]]; then # "OLD VERSION => NEW [VERSION]"
			old_version=" $arrow"
			read -r arrow new <<<"$new"
		fi
		if [[ $new == ./* || $new == ../* || $new == /* ]]; then
			if [[ -n $local_version && $old == "$local_prefix"* ]]; then replaces+=("$old => $old $local_version"); fi
		else
			replaces+=("$old$old_version => $new")
		fi
	done < <(gomod_directive "$upstream" replace)
	{
		echo "module local.invalid/$name"
		echo
		sed -n 's/^go \([0-9.]*\)$/go \1/p' "$upstream"
		if ((${#godebug[@]})); then printf 'godebug %s\n' "${godebug[@]}"; fi
		echo
		echo "require $module $version"
		if ((${#replaces[@]})); then
			echo
			echo "replace ("
			printf '\t%s\n' "${replaces[@]}"
			echo ")"
		fi
	} >"$dir/go.mod.new"
	if ! cmp -s "$dir/go.mod.new" "$dir/go.mod"; then
		mv "$dir/go.mod.new" "$dir/go.mod"
		rm -f "$dir/go.sum"
	else
		rm -f "$dir/go.mod.new"
	fi
}

publish_pointer() { # $1 = pointer file, $2 = folder it names (written atomically: readers never see half a line)
	mkdir -p "$(dirname "$1")"
	printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}
