//! A container upgrade: the old image's `pg_dump`, a container of the new image on a fresh
//! volume, loaded through `db restore`'s scratch-and-swap; the dump kept as the way back.

use super::*;

pub(super) fn container_upgrade(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
    plan: &Plan,
) -> Result<(String, u128, usize)> {
    let (from, to) = (plan.from, plan.to);
    let new_config = DbConfig {
        major: to,
        image: plan.image.clone().or_else(|| config.image.clone()),
        ..config.clone()
    };
    // Before anything is touched: an image the engine cannot get ends here.
    let image = new_config.image();
    let engine = crate::services::engine::engine(env.settings)?;
    let mut inspect = engine.command();
    inspect.args(["image", "inspect", "--format", "{{.Id}}", &image]);
    if crate::services::engine::run_engine(inspect, &format!("inspect {image}")).is_err() {
        let mut pull = engine.command();
        pull.args(["pull", &image]);
        crate::services::engine::run_engine(pull, &format!("pull {image}")).map_err(|e| {
            e.context(
                crate::error::UserError::new(format!(
                    "the image {image} for PostgreSQL {to} is not available"
                ))
                .hint(format!(
                    "make {image} available to the container engine (`pull` it, or load it), then try again; nothing was changed"
                )),
            )
        })?;
    }
    let old = crate::services::open(BackendKind::Container, env, project, config);
    old.up(identity)?;

    // The dump is the way back: written, synced and read back before the old volume goes.
    let started = Instant::now();
    let keep = &plan.keep;
    let target = crate::services::transfer::DumpTarget::new(keep, keep, false)?;
    old.dump(identity, &target)?;
    target.commit(keep)?;
    let plan_back = old.check_restore(identity, keep, keep)?;
    old.destroy()?;

    let new = crate::services::open(BackendKind::Container, env, project, &new_config);
    let loaded = (|| -> Result<()> {
        let up = new.up(identity)?;
        let runs = postgres::parse_version(&up.server_version).map(|(_, m)| m);
        if runs != Some(to) {
            return Err(user_error!(
                hint = format!("name an image of PostgreSQL {to} with --image"),
                "the image {image} runs PostgreSQL {}, not {to}",
                up.server_version
            ));
        }
        new.restore(identity, &plan_back)
    })();
    if let Err(e) = loaded {
        let _ = new.destroy();
        let back = (|| -> Result<()> {
            old.up(identity)?;
            old.restore(identity, &plan_back)
        })();
        let running = match back {
            Ok(()) => format!("PostgreSQL {from} runs again, loaded back from {}", keep.display()),
            Err(b) => format!(
                "PostgreSQL {from} could not be loaded back ({b:#}); the data is in {}: `pyenvx db up`, then \
                 `pyenvx db restore {}`",
                keep.display(),
                keep.display()
            ),
        };
        return Err(e.context(
            crate::error::UserError::new(format!(
                "the upgrade to PostgreSQL {to} failed; {running}, and [services.db] version is still \"{from}\""
            ))
            .hint(format!(
                "the dump of PostgreSQL {from} stays in {}",
                keep.display()
            )),
        ));
    }
    Ok(("dump".to_string(), started.elapsed().as_millis(), 0))
}
