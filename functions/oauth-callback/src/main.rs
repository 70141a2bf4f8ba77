//! The `oauth-callback` Lambda: wiring only; the routes live in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_http(shared::api::Function::OauthCallback).await
}
