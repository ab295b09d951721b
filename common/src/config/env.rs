//! Typed access to environment variables, shared by every concern's reader.

use std::str::FromStr;

use super::ConfigError;

/// One lookup function (the process environment, or a map in tests) with typed readers.
pub(crate) struct Env<'a>(pub(crate) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The process environment.
    pub(crate) fn process() -> Env<'static> {
        Env(&|name| std::env::var(name).ok())
    }

    pub(crate) fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub(crate) fn string_or(&self, name: &'static str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    pub(crate) fn invalid(
        &self,
        name: &'static str,
        value: &str,
        reason: impl ToString,
    ) -> ConfigError {
        ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn parse_optional<T>(&self, name: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.optional(name)
            .map(|value| {
                value
                    .trim()
                    .parse()
                    .map_err(|e| self.invalid(name, &value, e))
            })
            .transpose()
    }

    pub(crate) fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        Ok(self.parse_optional(name)?.unwrap_or(default))
    }

    pub(crate) fn positive_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Default + ToString,
        T::Err: std::fmt::Display,
    {
        let value = self.parse_or(name, default)?;
        if value <= T::default() {
            return Err(self.invalid(name, &value.to_string(), "must be greater than 0"));
        }
        Ok(value)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Reading a configuration from a map instead of the process environment.

    use std::collections::HashMap;

    use super::Env;

    /// Calls `read` with an environment that holds exactly `vars`.
    pub(crate) fn with_vars<T>(
        vars: &HashMap<&'static str, &'static str>,
        read: impl FnOnce(&Env<'_>) -> T,
    ) -> T {
        read(&Env(&|name| vars.get(name).map(|v| (*v).to_owned())))
    }
}
