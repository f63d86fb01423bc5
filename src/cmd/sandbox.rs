//! `southpaw sandbox`: the built-in demonstration (filled in by the foundation work).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("sandbox: not built yet")
}
