# Shared helpers for the ci/ scripts (sourced, not run).

section() { printf '\n=== %s (%ss) ===\n' "$1" "$SECONDS"; }

# Rust comes with the machine; refuse clearly if it is missing rather than fetching another one.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install stable Rust (rustup) first" >&2; exit 2; }
  cargo --version
}

# Debian packages the tests need. Installs only what is missing; needs root (CI is root).
ensure_apt_packages() {
  # attr: setfattr/getfattr, which the README's examples use.
  local want=(fuse3 attr) missing=()
  for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# A fresh Python virtual environment at $1 (Debian's python3 needs python3-venv for it).
make_python_venv() {
  command -v python3 >/dev/null 2>&1 || { echo "python3 not found" >&2; exit 2; }
  if ! python3 -m venv "$1" >/dev/null 2>&1; then
    echo "installing: python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$1"
  fi
}

# Puts `vexfs` on the PATH: a symbolic link /usr/local/bin/vexfs -> $1 (the built binary), when
# that directory is writable (root); otherwise says how.
link_vexfs() {
  local bin
  bin="$(realpath "$1")"
  if [ -w /usr/local/bin ]; then
    ln -sf "$bin" /usr/local/bin/vexfs
    echo "vexfs is on the PATH: /usr/local/bin/vexfs -> $bin"
  else
    echo "to put vexfs on the PATH: sudo ln -sf $bin /usr/local/bin/vexfs (or cargo install --path frontends/cli --locked)"
  fi
}
