#!/usr/bin/env bash
# Builds the .deb: target/debian/vipd_<version>-1_<arch>.deb (the path is printed last).
#
#   ./packaging/build-deb.sh [cargo-deb options]
#
# Installs cargo-deb if it is missing, writes the man pages (gzipped) and shell completions
# from the clap definitions (examples/gen-docs.rs) into the target directory, where the
# assets in Cargo.toml's [package.metadata.deb] find them, then runs `cargo deb` (a release
# build).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null; then
    echo "build-deb.sh: installing cargo-deb (once; takes a few minutes)" >&2
    cargo install cargo-deb --locked --version '^3.8'
fi

# cargo-deb reads assets named target/release/... from the real target directory, which
# CARGO_TARGET_DIR or a cargo config may have moved.
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ -z "$target_dir" ]; then
    echo "build-deb.sh: cannot find the target directory in cargo metadata" >&2
    exit 1
fi
docs="$target_dir/release/docs"
rm -rf "$docs"
cargo run --quiet --example gen-docs -- "$docs" >/dev/null
# Debian policy: man pages gzipped (cargo-deb only compresses assets outside target/).
gzip -9n "$docs"/usr/share/man/man*/*
cargo deb "$@"
