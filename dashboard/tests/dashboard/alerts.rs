use chrono::{Duration, Utc};
use dashboard::Accounts;
use dashboard::alerts::{AlertLog, LogError};
use serde_json::json;
use shared::testing::TestEnv;

/// The alerter's schema, made by its own migrations, as a running alerter would leave it.
async fn alerter_schema(pool: &sqlx::PgPool) {
    let mut sql = String::from("CREATE SCHEMA alerter; SET search_path TO alerter;\n");
    sql.push_str(include_str!("../../../alerter/migrations/0001_alerts.sql"));
    sql.push_str(include_str!(
        "../../../alerter/migrations/0002_resolved_issues.sql"
    ));
    sql.push_str("\nSET search_path TO dashboard;");
    let mut connection = pool.acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *connection)
        .await
        .unwrap();
}

/// A notification of `project`, `minutes_ago`, about issue `issue` when it has one.
async fn notified(
    pool: &sqlx::PgPool,
    delivery: &str,
    project: i64,
    minutes_ago: i64,
    issue: Option<i64>,
    status: &str,
) {
    let mut message = json!({"kind": "new_issue", "delivery_id": delivery,
                             "headline": format!("New issue in project {project}")});
    if let Some(id) = issue {
        message["issue"] = json!({"id": id, "title": format!("TypeError {delivery}")});
    }
    sqlx::query(
        "INSERT INTO alerter.notifications
           (delivery_id, channel, rule, reason, project_id, fingerprint, message, status,
            attempts, last_error, created_at)
         VALUES ($1, 'ops', 'new_issue', 'new_issue', $2, 'f', $3, $4, 3, 'HTTP 503', $5)",
    )
    .bind(delivery)
    .bind(project)
    .bind(message)
    .bind(status)
    .bind(Utc::now() - Duration::minutes(minutes_ago))
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_alert_log_is_the_alerters_records_newest_first_of_the_projects_asked() {
    let env = TestEnv::new();
    let accounts = Accounts::connect(&env.settings.database).await.unwrap();
    let pool = accounts.pool().clone();
    let log = AlertLog::new(pool.clone());

    // Before the alerter first started there is no table: no page, not an error.
    assert!(log.page(None, None, 10).await.unwrap().is_none());

    alerter_schema(&pool).await;
    assert!(
        log.page(None, None, 10)
            .await
            .unwrap()
            .unwrap()
            .rows
            .is_empty()
    );
    notified(&pool, "a", 1, 5, Some(11), "sent").await;
    notified(&pool, "b", 2, 4, Some(21), "failed").await;
    notified(&pool, "c", 1, 3, None, "folded").await;
    notified(&pool, "d", 1, 2, Some(12), "pending").await;
    notified(&pool, "e", 2, 1, None, "sent").await;

    // Every project's, newest first, with what the message says.
    let all = log.page(None, None, 10).await.unwrap().unwrap();
    let order: Vec<(i64, Option<i64>)> = all
        .rows
        .iter()
        .map(|r| (r.project_id, r.issue_id))
        .collect();
    assert_eq!(
        order,
        [
            (2, None),
            (1, Some(12)),
            (1, None),
            (2, Some(21)),
            (1, Some(11))
        ]
    );
    assert_eq!(all.rows[3].status, "failed");
    assert_eq!(all.rows[3].attempts, 3);
    assert_eq!(all.rows[3].last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(all.rows[3].title.as_deref(), Some("TypeError b"));
    assert_eq!(
        all.rows[0].headline.as_deref(),
        Some("New issue in project 2")
    );
    assert!(all.next.is_none());

    // Project 1's only (a member's scope), two at a time, by cursor.
    let first = log.page(Some(&[1]), None, 2).await.unwrap().unwrap();
    assert_eq!(
        first.rows.iter().map(|r| r.issue_id).collect::<Vec<_>>(),
        [Some(12), None]
    );
    let next = first.next.expect("a next page");
    let second = log.page(Some(&[1]), Some(&next), 2).await.unwrap().unwrap();
    assert_eq!(
        second.rows.iter().map(|r| r.issue_id).collect::<Vec<_>>(),
        [Some(11)]
    );
    assert!(second.next.is_none());
    assert!(second.rows.iter().all(|r| r.project_id == 1));
    // A project nobody notified, and a cursor that is not one.
    assert!(
        log.page(Some(&[3]), None, 10)
            .await
            .unwrap()
            .unwrap()
            .rows
            .is_empty()
    );
    assert!(matches!(
        log.page(None, Some("nope"), 10).await,
        Err(LogError::BadCursor)
    ));
}
