# lucia-pkg as a Nix flake: `nix run . -- build --arch arm64`, `nix build`, `nix develop`.
#
# nixpkgs is pinned to one commit (not a branch) so every machine evaluates the same package set.
# No flake.lock is committed yet: creating it downloads nixpkgs, which our build machines cannot
# do. Run `nix flake lock` once on a machine with network and commit the result (docs/nix.md).
# Offline, tests/nix.rs evaluates this file against the stub in nix/stub-nixpkgs.
{
  description = "lucia-pkg: one TOML manifest to reproducible deb, rpm, tar.gz and multi-arch OCI artifacts";

  # A NixOS/nixpkgs commit that carries rustc 1.95 (the toolchain lucia-pkg is developed with).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/fc3f2e72c142be53877d3f728f949330811bc7dd";

  outputs = { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).workspace.package.version;

      mkLuciaPkg = pkgs: pkgs.rustPlatform.buildRustPackage {
        pname = "lucia-pkg";
        inherit version;
        # In a git checkout, flakes only see tracked files, so target/ never enters the build.
        src = lib.cleanSource ./.;
        cargoLock.lockFile = ./Cargo.lock;
        cargoBuildFlags = [ "--package" "lucia-pkg" ];
        # The test suite drives dpkg, rpm, podman, qemu and a local registry; it cannot run in
        # the Nix build sandbox. Run it in `nix develop` instead.
        doCheck = false;
        meta = {
          description = "One manifest to reproducible deb, rpm, tar.gz and multi-arch OCI release artifacts";
          homepage = "https://github.com/seiggy/lucia-dotnet";
          license = [ lib.licenses.mit lib.licenses.asl20 ];
          mainProgram = "lucia-pkg";
          platforms = systems;
        };
      };

      # Tools the end-to-end tests call (the Debian CI installs the same set from
      # scripts/ci-packages.txt). Names not present in the pinned nixpkgs are skipped rather
      # than failing evaluation.
      e2eTools = pkgs:
        (with pkgs; [
          cargo rustc clippy rustfmt
          dpkg rpm skopeo umoci podman runc qemu
          diffoscope libarchive zstd xz gnupg curl
          nix yamllint docker-compose apacheHttpd
        ])
        ++ builtins.concatMap (name: lib.optional (pkgs ? ${name}) pkgs.${name})
          [ "lintian" "rpmlint" "mmdebstrap" "distribution" ];
    in
    {
      packages = forAllSystems (pkgs: rec {
        lucia-pkg = mkLuciaPkg pkgs;
        default = lucia-pkg;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/lucia-pkg";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = e2eTools pkgs;
        };
      });

      # `nix flake check` builds the package on each system.
      checks = forAllSystems (pkgs: {
        lucia-pkg = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      });
    };
}
