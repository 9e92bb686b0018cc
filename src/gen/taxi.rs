//! Generated Chicago taxi trips with the TFX sample's columns (`pickup_community_area`,
//! `fare`, `trip_start_timestamp` in epoch seconds, `pickup_latitude`, ...), one JSON
//! object per line.
//!
//! Shaped like the real trips, not copied from them: a few community areas (`skew`) see
//! most pickups, pickup points lie within about 0.02° of their area's (synthetic) centre,
//! fares follow the meter ($3.25 + $2.25 a mile + time), card payers tip 10-25 %, cash
//! payers never record a tip. Like the real data some optional fields are missing (about
//! 1 % pickup area, 3 % drop-off point, 30 % company); missing fields are left out.
//! Unlike the City's export, start times keep their seconds (the City rounds them to
//! 15 minutes), so live replays have something to put in short windows.

use super::{skewed, EventClock, GenOptions};
use chrono::{Datelike, TimeZone, Timelike};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::fmt::Write;

const COMPANIES: &[&str] = &[
    "Flash Cab",
    "Taxi Affiliation Services",
    "Yellow Cab",
    "Dispatch Taxi Affiliation",
    "Chicago Carriage Cab Corp",
    "City Service",
    "Sun Taxi",
    "Medallion Leasin",
    "Blue Ribbon Taxi Association Inc.",
    "Choice Taxi Association",
];

/// Trips one at a time, in order.
pub struct TaxiGenerator {
    rng: Pcg64Mcg,
    clock: EventClock,
    skew: f64,
}

impl TaxiGenerator {
    /// Starts the sequence `options` describe.
    pub fn new(options: &GenOptions) -> TaxiGenerator {
        TaxiGenerator {
            rng: Pcg64Mcg::seed_from_u64(options.seed),
            clock: EventClock::new(options),
            skew: options.skew,
        }
    }

    /// Writes the next trip (with its newline) into `line`; `false` after the last.
    pub fn next_line(&mut self, line: &mut String) -> bool {
        let Some((_, start_ms)) = self.clock.next_event(&mut self.rng) else {
            return false;
        };
        let rng = &mut self.rng;
        let start_s = start_ms / 1000;
        let pickup_area = 1 + skewed(rng, 77, self.skew);
        let dropoff_area = 1 + rng.random_range(0..77);
        let (pickup_lat, pickup_lon) = near(rng, area_centre(pickup_area));
        let (dropoff_lat, dropoff_lon) = near(rng, area_centre(dropoff_area));
        // Log-normal-ish trip length around two miles.
        let miles = (0.8 + 0.8 * normal(rng)).exp().min(60.0);
        let seconds = (miles * rng.random_range(150.0..360.0) + 60.0).round() as u64;
        let fare = cents(3.25 + 2.25 * miles + 0.2 * (seconds as f64 / 36.0));
        let card = rng.random_bool(0.55);
        let tips = if card {
            cents(fare * rng.random_range(0.10..0.25))
        } else {
            0.0
        };
        let local = chrono_tz::America::Chicago
            .timestamp_opt(start_s as i64, 0)
            .single()
            .expect("a UTC instant is one local time");

        line.clear();
        line.push('{');
        if rng.random_bool(0.99) {
            let _ = write!(line, "\"pickup_community_area\": {pickup_area}, ");
        }
        let _ = write!(
            line,
            "\"fare\": {fare:.2}, \"trip_start_month\": {}, \"trip_start_hour\": {}, \
             \"trip_start_day\": {}, \"trip_start_timestamp\": {start_s}, \
             \"pickup_latitude\": {pickup_lat:.6}, \"pickup_longitude\": {pickup_lon:.6}, ",
            local.month(),
            local.hour(),
            local.weekday().number_from_sunday(),
        );
        if rng.random_bool(0.97) {
            let _ = write!(
                line,
                "\"dropoff_latitude\": {dropoff_lat:.6}, \"dropoff_longitude\": {dropoff_lon:.6}, "
            );
        }
        let _ = write!(
            line,
            "\"trip_miles\": {miles:.2}, \"payment_type\": \"{}\", ",
            if card { "Credit Card" } else { "Cash" }
        );
        if rng.random_bool(0.7) {
            let company = COMPANIES[skewed(rng, COMPANIES.len(), 2.0)];
            let _ = write!(line, "\"company\": \"{company}\", ");
        }
        let _ = writeln!(
            line,
            "\"trip_seconds\": {seconds}, \"dropoff_community_area\": {dropoff_area}, \"tips\": {tips:.2}}}"
        );
        true
    }
}

/// A synthetic centre for community area `area` (1..=77), spread over the city's extent
/// (41.65..42.02 N, 87.53..87.85 W): areas run from north to south as the real numbering
/// roughly does.
fn area_centre(area: usize) -> (f64, f64) {
    let row = (area - 1) / 7;
    let column = (area - 1) % 7;
    (
        42.02 - 0.37 * (row as f64 + 0.5) / 11.0,
        -87.85 + 0.32 * (column as f64 + 0.5) / 7.0,
    )
}

/// A point within about 0.02° of `centre`.
fn near(rng: &mut Pcg64Mcg, (lat, lon): (f64, f64)) -> (f64, f64) {
    (
        lat + rng.random_range(-0.02..0.02),
        lon + rng.random_range(-0.02..0.02),
    )
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Pcg64Mcg) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Rounded to whole cents.
fn cents(dollars: f64) -> f64 {
    (dollars * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::super::{write_lines, GenKind};
    use super::*;

    #[test]
    fn trips_are_valid_deterministic_and_shaped_like_the_tfx_sample() {
        let options = GenOptions {
            count: 5000,
            rate: 2,
            ..GenOptions::defaults(GenKind::Taxi)
        };
        let mut out = Vec::new();
        write_lines(GenKind::Taxi, &options, &mut out).expect("write");
        let mut again = Vec::new();
        write_lines(GenKind::Taxi, &options, &mut again).expect("write");
        assert_eq!(out, again, "same seed, same bytes");
        let text = String::from_utf8(out).expect("utf8");
        let (mut without_area, mut cash_tips, mut areas) = (0, 0.0, [0u32; 78]);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let ts = v["trip_start_timestamp"].as_i64().expect("start");
            let local = chrono_tz::America::Chicago.timestamp_opt(ts, 0).unwrap();
            assert_eq!(v["trip_start_hour"].as_u64(), Some(u64::from(local.hour())));
            let fare = v["fare"].as_f64().expect("fare");
            assert!(fare >= 3.25, "{line}");
            let lat = v["pickup_latitude"].as_f64().expect("lat");
            assert!((41.6..42.05).contains(&lat), "{line}");
            match v["pickup_community_area"].as_u64() {
                Some(area) => areas[area as usize] += 1,
                None => without_area += 1,
            }
            if v["payment_type"] == "Cash" {
                cash_tips += v["tips"].as_f64().expect("tips");
            }
        }
        assert!(without_area > 0 && without_area < 200, "{without_area}");
        assert_eq!(cash_tips, 0.0);
        assert_eq!(areas[0], 0, "areas are numbered from 1");
        assert!(areas[1] > 5 * areas[60], "a few areas dominate: {areas:?}");
    }
}
