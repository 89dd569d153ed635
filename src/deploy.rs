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

/// The compose variable that names the image: the package name in upper case, other characters
/// as `_` (`my-app` → `MY_APP_IMAGE`).
pub fn image_variable(plan: &Plan) -> String {
    let mut v: String = plan
        .meta
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    v.push_str("_IMAGE");
    v
}

/// Whether the manifest asked for any deployment values.
pub fn wanted(plan: &Plan) -> bool {
    !plan.formats.oci.deploy.is_empty()
}

/// (file name, contents) pairs for the files `[deploy] files` lists, in a fixed order.
pub fn render(plan: &Plan, index_digest: &str) -> Vec<(&'static str, String)> {
    let repo = repository(plan);
    let name = &plan.meta.name;
    let version = &plan.meta.version.upstream;
    let pinned = format!("{repo}@{index_digest}");
    let header = format!("# {name} {version}, pinned to the image index this release built.\n");
    let var = image_variable(plan);
    let dir = dir_name(plan);
    let mut out = Vec::new();
    for kind in &plan.formats.oci.deploy {
        match kind.as_str() {
            "compose" => out.push((
                "compose.env",
                format!(
                    "# Append to the .env file next to your compose file and use image: ${{{var}}}:\n\
                     #   grep '^{var}=' {dir}/compose.env >> .env\n\
                     {header}{var}={pinned}\n"
                ),
            )),
            "kustomize" => out.push((
                "kustomize-images.yaml",
                format!(
                    "# Paste into your overlay's kustomization.yaml.\n\
                     {header}images:\n  - name: {repo}\n    digest: {index_digest}\n"
                ),
            )),
            "helm" => out.push((
                "helm-values.yaml",
                format!(
                    "# helm upgrade --install {name} <your chart> -f {dir}/helm-values.yaml\n\
                     {header}image:\n  repository: {repo}\n  tag: \"{version}\"\n  digest: \"{index_digest}\"\n"
                ),
            )),
            _ => {}
        }
    }
    out.sort_by_key(|(n, _)| *n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_pinned_reference() {
        let mut plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
        let d = format!("sha256:{}", "ab".repeat(32));
        assert!(!wanted(&plan));
        assert!(render(&plan, &d).is_empty());
        plan.formats.oci.deploy = vec!["compose".into(), "helm".into(), "kustomize".into()];
        let files = render(&plan, &d);
        assert_eq!(files.len(), 3);
        assert!(files[0].1.contains(&format!("\nLUCIA_IMAGE=lucia@{d}\n")));
        assert!(files[1].1.contains(&format!("digest: \"{d}\"")));
        assert!(files[2].1.contains(&format!("digest: {d}")));
        assert_eq!(dir_name(&plan), "lucia-1.0.0-deploy");
    }

    #[test]
    fn names_come_from_the_package() {
        let mut plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
        plan.meta.name = "my-app.v2".into();
        plan.formats.oci.deploy = vec!["compose".into(), "helm".into()];
        let files = render(&plan, "sha256:00");
        assert_eq!(image_variable(&plan), "MY_APP_V2_IMAGE");
        assert!(files[0]
            .1
            .contains("\nMY_APP_V2_IMAGE=my-app.v2@sha256:00\n"));
        for (_, text) in &files {
            assert!(!text.to_lowercase().contains("lucia"), "{text}");
            assert!(
                !text.contains("docker/") && !text.contains("charts/"),
                "{text}"
            );
        }
    }
}
