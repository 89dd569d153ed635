# An offline stand-in for nixpkgs with exactly the surface lucia-pkg's flake.nix uses, so that
# `nix flake show` / `nix flake check --no-build` can evaluate every output for both systems
# without downloading nixpkgs (tests/nix.rs passes it with --override-input nixpkgs).
# Every package is a trivial derivation; nothing here is ever built. The checks below make the
# stub fail evaluation when flake.nix passes something the real functions would reject.
{
  description = "Stub nixpkgs for evaluating lucia-pkg's flake offline";

  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];

      genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);

      lib = {
        inherit genAttrs;
        optional = cond: x: if cond then [ x ] else [ ];
        cleanSource = src: src;
        licenses = {
          mit = { spdxId = "MIT"; };
          asl20 = { spdxId = "Apache-2.0"; };
        };
      };

      isDrv = x: builtins.isAttrs x && (x.type or "") == "derivation";

      pkgsFor = system:
        let
          trivial = name: derivation {
            inherit name system;
            builder = "/bin/sh";
            args = [ "-c" "echo stub > $out" ];
          };
          require = cond: msg: if cond then true else throw "stub nixpkgs: ${msg}";
          tools = [
            "cargo" "rustc" "clippy" "rustfmt" "dpkg" "rpm" "skopeo" "umoci" "podman" "runc" "qemu"
            "diffoscope" "libarchive" "zstd" "xz" "gnupg" "curl" "nix" "yamllint" "docker-compose"
            "apacheHttpd" "lintian" "rpmlint"
            # mmdebstrap and distribution are deliberately absent: flake.nix must skip them.
          ];
        in
        genAttrs tools trivial // {
          stdenv.hostPlatform.system = system;

          rustPlatform.buildRustPackage = args:
            assert require (builtins.isString args.pname) "buildRustPackage needs a string pname";
            assert require (builtins.isString args.version) "buildRustPackage needs a string version";
            assert require (builtins.pathExists args.cargoLock.lockFile) "cargoLock.lockFile must exist";
            assert require (builtins.pathExists (args.src + "/Cargo.toml")) "src must contain Cargo.toml";
            trivial "${args.pname}-${args.version}" // { meta = args.meta or { }; };

          mkShell = args:
            assert require (builtins.all isDrv (args.packages or [ ])) "mkShell packages must be derivations";
            trivial "lucia-pkg-dev-shell";
        };
    in
    {
      inherit lib;
      legacyPackages = genAttrs systems pkgsFor;
    };
}
