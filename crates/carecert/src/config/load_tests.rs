//! Unit tests of `load.rs`: parsing, precedence and the problems `check-config` reports.

use super::*;

#[test]
fn the_defaults_are_valid() {
    let s = Config::default().validate().unwrap();
    assert_eq!(s.helpdesk, "the carecert helpdesk (0300 123 4567, helpdesk@carecert.example)");
    assert_eq!(s.time_zone_name, "Europe/London");
}

#[test]
fn the_example_file_states_exactly_the_defaults() {
    let example = parse(include_str!("../../../../carecert.example.toml")).unwrap();
    assert_eq!(format!("{example:?}"), format!("{:?}", Config::default()));
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let text = r#"
        [server]
        agent_url = "not a url"
        [portal]
        idle_tymeout = "15m"
        session_lifetime = "-2h"
        [cards]
        unlock_code_tries = 0
        [bogus]
        x = 1
    "#;
    let problems = parse(text).unwrap_err();
    assert_eq!(problems.len(), 5, "{problems:?}");
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    for k in ["server.agent_url", "portal.idle_tymeout", "portal.session_lifetime", "cards.unlock_code_tries", "bogus"]
    {
        assert!(keys.contains(&k), "{k} missing from {problems:?}");
    }
}

#[test]
fn card_limits_are_read_and_checked_with_their_keys() {
    let c = parse(
        "[cards.limits]\nchallenges_per_card = { burst = 2, interval = \"10s\", per_hour = 20 }\nargon2_workers = 3\n",
    )
    .unwrap();
    let l = c.validate().unwrap().card_limits;
    assert_eq!(l.challenges_per_card, cards::Limit { burst: 2, interval: Duration::from_secs(10), per_hour: 20 });
    assert_eq!(l.argon2_workers, 3);
    assert_eq!(l.challenges_per_source, cards::CardLimits::default().challenges_per_source, "others default");
    let bad =
        "[cards.limits]\ncode_sends_per_card = { burst = 0, interval = \"5\", per_hour = 1 }\nargon2_workers = -1\n";
    let problems = parse(bad).unwrap().validate().unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    for k in [
        "cards.limits.code_sends_per_card.burst",
        "cards.limits.code_sends_per_card.interval",
        "cards.limits.argon2_workers",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
}

#[test]
fn a_wrong_type_is_reported_and_the_rest_still_checked() {
    let problems = parse("[cards]\nunlock_code_tries = \"three\"\n[display]\ntime_zone = \"Mars/Base\"\n").unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"cards.unlock_code_tries") && keys.contains(&"display.time_zone"), "{problems:?}");
}
