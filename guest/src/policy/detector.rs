//! The PII detectors of `scrub`, defined once.

use serde::{Deserialize, Serialize};

/// Defines [`Detector`] from one list: each detector's variant, the name a
/// policy writes (also its serde name) and the `{TYPE}` of its replacement.
macro_rules! detectors {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $type_name:literal;)+) => {
        /// A PII detector of `scrub`.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub enum Detector {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)+
        }

        impl Detector {
            /// Every detector, in the order the policy format lists them.
            pub const ALL: &'static [Detector] = &[$(Detector::$variant,)+];

            /// The detector's name as written in a policy: `email`,
            /// `credit_card`, ...
            pub const fn name(self) -> &'static str {
                match self {
                    $(Detector::$variant => $name,)+
                }
            }

            /// The `{TYPE}` of a replacement: `EMAIL`, `CREDIT_CARD`, ...
            pub const fn type_name(self) -> &'static str {
                match self {
                    $(Detector::$variant => $type_name,)+
                }
            }
        }
    };
}

detectors! {
    /// E-mail addresses.
    Email = "email", "EMAIL";
    /// Phone numbers.
    Phone = "phone", "PHONE";
    /// Luhn-valid card numbers.
    CreditCard = "credit_card", "CREDIT_CARD";
    /// Mod-97-valid IBANs.
    Iban = "iban", "IBAN";
    /// US social security numbers.
    UsSsn = "us_ssn", "US_SSN";
    /// IPv4 addresses.
    Ipv4 = "ipv4", "IPV4";
    /// IPv6 addresses.
    Ipv6 = "ipv6", "IPV6";
    /// http and https URLs.
    Url = "url", "URL";
}

impl Detector {
    /// Every detector ([`Detector::ALL`]), as the default of `scrub.detectors`.
    pub fn all() -> Vec<Detector> {
        Detector::ALL.to_vec()
    }

    /// The detector of this name.
    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL.iter().copied().find(|d| d.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names_and_type_names_their_upper_case() {
        for &detector in Detector::ALL {
            let name = detector.name();
            assert_eq!(serde_json::to_value(detector).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<Detector>(name.into()).unwrap(),
                detector
            );
            assert_eq!(Detector::from_name(name), Some(detector));
            assert_eq!(detector.type_name(), name.to_ascii_uppercase());
        }
        assert_eq!(Detector::from_name("EMAIL"), None);
    }
}
