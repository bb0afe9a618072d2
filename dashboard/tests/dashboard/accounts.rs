use dashboard::accounts::{FAILURES_PER_ACCOUNT, FAILURES_PER_ADDRESS};
use dashboard::{AccountError, Accounts, Role};
use shared::event::ProjectId;
use shared::testing::TestEnv;

const PASSWORD: &str = "a long enough password";

async fn accounts(env: &TestEnv) -> Accounts {
    Accounts::connect(&env.settings.database)
        .await
        .expect("the dashboard schema")
}

#[tokio::test]
async fn a_session_lives_until_signed_out_expired_or_its_password_changes() {
    let env = TestEnv::new();
    let accounts = accounts(&env).await;
    let project = ProjectId::new(2).unwrap();
    accounts
        .create_user("Dev@Example.test", PASSWORD, Role::Member, &[project])
        .await
        .unwrap();
    assert!(matches!(
        accounts
            .create_user("dev@example.TEST", PASSWORD, Role::Admin, &[])
            .await,
        Err(AccountError::EmailTaken)
    ));

    // The email is matched case-insensitively; the member sees project 2 only.
    let token = accounts
        .sign_in("dev@example.test", PASSWORD, "192.0.2.1")
        .await
        .unwrap();
    let viewer = accounts
        .viewer(&token)
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(viewer.role, Role::Member);
    assert!(viewer.can_see(project));
    assert!(!viewer.can_see(ProjectId::new(1).unwrap()));
    assert!(viewer.csrf_matches(&viewer.csrf.clone()));
    assert!(
        !viewer.csrf_matches(&token),
        "the CSRF token is not the session token"
    );
    // The cookie's token is not what the table keeps.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE token_hash = $1")
        .bind(token.as_bytes())
        .fetch_one(accounts.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // A password change keeps this session and ends the others.
    let other = accounts
        .sign_in("dev@example.test", PASSWORD, "192.0.2.1")
        .await
        .unwrap();
    accounts
        .change_password(&viewer, PASSWORD, "another long password")
        .await
        .unwrap();
    assert!(accounts.viewer(&token).await.unwrap().is_some());
    assert!(accounts.viewer(&other).await.unwrap().is_none());
    assert!(matches!(
        accounts
            .sign_in("dev@example.test", PASSWORD, "192.0.2.1")
            .await,
        Err(AccountError::WrongCredentials)
    ));

    // Signed out: gone.
    accounts.sign_out(&viewer).await.unwrap();
    assert!(accounts.viewer(&token).await.unwrap().is_none());

    // Expired: gone.
    let token = accounts
        .sign_in("dev@example.test", "another long password", "192.0.2.1")
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(accounts.pool())
        .await
        .unwrap();
    assert!(accounts.viewer(&token).await.unwrap().is_none());
    // Not a token at all.
    assert!(accounts.viewer("not a token").await.unwrap().is_none());
}

#[tokio::test]
async fn guessing_is_throttled_per_account_and_per_address() {
    let env = TestEnv::new();
    let accounts = accounts(&env).await;
    accounts
        .create_user("admin@example.test", PASSWORD, Role::Admin, &[])
        .await
        .unwrap();

    // One account guessed at from many addresses: after the limit even the right password
    // is refused, from any address.
    for attempt in 0..FAILURES_PER_ACCOUNT {
        let address = format!("198.51.100.{attempt}");
        assert!(matches!(
            accounts
                .sign_in("admin@example.test", "wrong guess 123", &address)
                .await,
            Err(AccountError::WrongCredentials)
        ));
    }
    assert!(matches!(
        accounts
            .sign_in("ADMIN@example.test", PASSWORD, "203.0.113.9")
            .await,
        Err(AccountError::Throttled)
    ));

    // One address guessing at many accounts (that need not exist).
    for attempt in 0..FAILURES_PER_ADDRESS {
        let _ = accounts
            .sign_in(
                &format!("nobody{attempt}@example.test"),
                "wrong guess 123",
                "192.0.2.77",
            )
            .await;
    }
    assert!(matches!(
        accounts
            .sign_in("someone@example.test", "wrong guess 123", "192.0.2.77")
            .await,
        Err(AccountError::Throttled)
    ));
    // Another address is not throttled for an account that was not guessed at.
    accounts
        .create_user("dev@example.test", PASSWORD, Role::Admin, &[])
        .await
        .unwrap();
    accounts
        .sign_in("dev@example.test", PASSWORD, "192.0.2.78")
        .await
        .expect("not throttled");
}

#[tokio::test]
async fn an_api_token_stands_for_its_user_until_revoked() {
    let env = TestEnv::new();
    let accounts = accounts(&env).await;
    let project = ProjectId::new(1).unwrap();
    accounts
        .create_user("dev@example.test", PASSWORD, Role::Member, &[project])
        .await
        .unwrap();
    let session = accounts
        .sign_in("dev@example.test", PASSWORD, "192.0.2.1")
        .await
        .unwrap();
    let viewer = accounts.viewer(&session).await.unwrap().unwrap();

    let token = accounts.create_api_token(&viewer, "ci").await.unwrap();
    assert!(token.starts_with("fmt_") && token.len() == 68, "{token}");
    let listed = accounts.api_tokens(&viewer).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "ci");
    assert!(listed[0].last_used_at.is_none());

    let as_token = accounts
        .api_viewer(&token)
        .await
        .unwrap()
        .expect("the user");
    assert_eq!(as_token.user_id, viewer.user_id);
    assert!(as_token.can_see(project));
    assert!(!as_token.can_see(ProjectId::new(2).unwrap()));
    // A token changes nothing through the pages: no CSRF token matches it.
    assert!(!as_token.csrf_matches(""));
    assert!(
        accounts.api_tokens(&viewer).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
    // Neither a session token nor a near miss is an API token.
    assert!(accounts.api_viewer(&session).await.unwrap().is_none());
    let mut wrong = token.clone();
    wrong.replace_range(10..11, if &token[10..11] == "0" { "1" } else { "0" });
    assert!(accounts.api_viewer(&wrong).await.unwrap().is_none());
    assert!(matches!(
        accounts.create_api_token(&viewer, "  ").await,
        Err(AccountError::InvalidTokenName)
    ));

    assert!(
        accounts
            .revoke_api_token(&viewer, listed[0].id)
            .await
            .unwrap()
    );
    assert!(accounts.api_viewer(&token).await.unwrap().is_none());
    assert!(
        !accounts
            .revoke_api_token(&viewer, listed[0].id)
            .await
            .unwrap()
    );
}
