//! `gavel keys`: the public half of the key material, for verifiers.

use clap::Subcommand;
use gavel_ledger::keys::public_key_pem;
use gavel_store::Log;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print the log signing public key: verifier key string (signed-note), key id and SPKI PEM.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(log: &Log, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Show { json } => {
            let signer = log.signer();
            let pem = public_key_pem(&signer.verifying_key());
            let key_id = hex::encode(signer.key_id());
            if json {
                crate::print_json(&serde_json::json!({
                    "log": {
                        "name": signer.name(),
                        "key_id": key_id,
                        "verifier_key": signer.verifier_key(),
                        "public_key_pem": pem,
                        "algorithm": "Ed25519",
                    }
                }));
            } else {
                println!("log signing key (checkpoints, Ed25519)");
                println!("  name:         {}", signer.name());
                println!("  key id:       {key_id}");
                println!("  verifier key: {}", signer.verifier_key());
                print!("{pem}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
