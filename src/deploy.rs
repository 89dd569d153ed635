//! Deployment values rendered for a build's image: the compose `.env`, a kustomize `images:`
//! entry and Helm values, each naming the image by the exact index digest the build produced
//! (`<repository>@sha256:…`), so what runs is byte for byte what was built and tested. They are
//! part of the release set and of SHA256SUMS. Pure functions of the repository, version and digest.

use pkg_core::Plan;

/// `lucia-1.0.0-deploy`
pub fn dir_name(plan: &Plan) -> String {
    format!("{}-{}-deploy", plan.meta.name, plan.meta.version.upstream)
}

fn repository(plan: &Plan) -> String {
    plan.formats
        .oci
        .repository
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| plan.meta.name.clone())
}

/// (file name, contents) pairs.
pub fn render(plan: &Plan, index_digest: &str) -> Vec<(&'static str, String)> {
    let repo = repository(plan);
    let version = &plan.meta.version.upstream;
    let pinned = format!("{repo}@{index_digest}");
    vec![
        (
            "compose.env",
            format!(
                "# grep '^LUCIA_IMAGE=' {dir}/compose.env >> docker/.env   (then: docker compose -f docker/docker-compose.yml up -d)\n\
                 # {name} {version}, pinned to the image index this release built.\n\
                 LUCIA_IMAGE={pinned}\n",
                dir = dir_name(plan),
                name = plan.meta.name,
            ),
        ),
        (
            "kustomize-images.yaml",
            format!(
                "# Paste into your overlay's kustomization.yaml (see kubernetes/overlays/example).\n\
                 # {name} {version}, pinned to the image index this release built.\n\
                 images:\n  - name: {repo}\n    digest: {index_digest}\n",
                name = plan.meta.name,
            ),
        ),
        (
            "helm-values.yaml",
            format!(
                "# helm upgrade --install {name} charts/{name} -f {dir}/helm-values.yaml\n\
                 # {name} {version}, pinned to the image index this release built.\n\
                 image:\n  repository: {repo}\n  tag: \"{version}\"\n  digest: \"{index_digest}\"\n",
                name = plan.meta.name,
                dir = dir_name(plan),
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_pinned_reference() {
        let plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
        let d = format!("sha256:{}", "ab".repeat(32));
        let files = render(&plan, &d);
        assert_eq!(files.len(), 3);
        assert!(files[0].1.contains(&format!("LUCIA_IMAGE=lucia@{d}")));
        assert!(files[1].1.contains(&format!("digest: {d}")));
        assert!(files[2].1.contains(&format!("digest: \"{d}\"")));
        assert_eq!(dir_name(&plan), "lucia-1.0.0-deploy");
    }
}
