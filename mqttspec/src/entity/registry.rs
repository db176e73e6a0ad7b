//! The set of entities a server serves: collected from `inventory` and/or given explicitly.

use std::collections::BTreeMap;

use super::{Entity, EntityDef};
use crate::error::{Error, ErrorCode};

/// Submitted by `#[derive(SpecEntity)]` for every entity; the runtime collects them.
#[doc(hidden)]
pub struct EntityRegistration(pub EntityDef);

inventory::collect!(EntityRegistration);

/// Entities by `(schema, name)`, sorted.
#[derive(Debug, Clone, Default)]
pub struct EntityRegistry {
    entities: Vec<EntityDef>,
}

impl EntityRegistry {
    /// Every entity of the program (`inventory`).
    pub fn discovered() -> Vec<EntityDef> {
        inventory::iter::<EntityRegistration>().map(|r| r.0).collect()
    }

    /// Builds a registry; fails when two entities claim the same `schema.name` or when there are none.
    pub fn new(defs: impl IntoIterator<Item = EntityDef>) -> Result<Self, Error> {
        let mut by_name = BTreeMap::new();
        for def in defs {
            let key = (def.meta.schema, def.meta.name);
            if let Some(previous) = by_name.insert(key, def)
                && !previous.same(&def)
            {
                return Err(Error::new(
                    ErrorCode::InternalError,
                    format!(
                        "entities `{}` and `{}` both claim the name `{}`",
                        previous.meta.rust_name,
                        def.meta.rust_name,
                        def.meta.qualified_name()
                    ),
                ));
            }
        }
        if by_name.is_empty() {
            return Err(Error::new(
                ErrorCode::InternalError,
                "no entity is registered: derive `SpecEntity` on a struct or add one with `.entity::<T>()`",
            ));
        }
        Ok(Self { entities: by_name.into_values().collect() })
    }

    /// A registry of exactly these entity types.
    pub fn of<E: Entity>() -> Result<Self, Error> {
        Self::new([EntityDef::of::<E>()])
    }

    /// All entities, sorted by schema then name.
    pub fn entities(&self) -> &[EntityDef] {
        &self.entities
    }

    /// Finds an entity: `schema` + `entity` always; `entity` alone when only one schema has it.
    pub fn find(&self, schema: Option<&str>, entity: &str) -> Result<&EntityDef, Error> {
        let mut found =
            self.entities.iter().filter(|d| d.meta.name == entity && schema.is_none_or(|s| s == d.meta.schema));
        let not_found = || {
            let name = match schema {
                Some(s) => format!("{s}.{entity}"),
                None => entity.to_owned(),
            };
            Error::new(ErrorCode::ModelNotFound, format!("unknown entity `{}`", crate::value::clip(&name)))
        };
        let first = found.next().ok_or_else(not_found)?;
        if found.next().is_some() {
            return Err(Error::new(
                ErrorCode::ModelNotFound,
                format!("entity `{entity}` exists in several schemas: give `schema`"),
            ));
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, SpecEntity};

    #[derive(SpecEntity)]
    #[spec(table = "things")]
    struct Thing {
        id: i64,
    }

    #[derive(SpecEntity)]
    #[spec(table = "things")]
    struct OtherThing {
        id: i64,
    }

    #[derive(SpecEntity)]
    #[spec(schema = "archive", table = "things")]
    struct ArchivedThing {
        id: i64,
    }

    #[derive(SpecEntity)]
    #[spec(table = "apples")]
    struct Apple {
        id: i64,
    }

    #[test]
    fn start_up_rules() {
        let none = EntityRegistry::new([]).unwrap_err();
        assert!(none.message().contains("no entity"), "{none}");
        let clash = EntityRegistry::new([EntityDef::of::<Thing>(), EntityDef::of::<OtherThing>()]).unwrap_err();
        assert!(clash.message().contains("both claim the name `public.things`"), "{clash}");
        // The same type given twice (explicitly and through inventory) is one entity.
        let registry = EntityRegistry::new([EntityDef::of::<Thing>(), EntityDef::of::<Thing>()]).unwrap();
        assert_eq!(registry.entities().len(), 1);
        assert!(EntityRegistry::discovered().iter().any(|d| d.is::<Apple>()), "inventory finds derived entities");
    }

    #[test]
    fn sorted_lookup_and_ambiguity() {
        let registry =
            EntityRegistry::new([EntityDef::of::<Thing>(), EntityDef::of::<Apple>(), EntityDef::of::<ArchivedThing>()])
                .unwrap();
        let names: Vec<_> = registry.entities().iter().map(|d| d.meta.qualified_name()).collect();
        assert_eq!(names, ["archive.things", "public.apples", "public.things"]);
        assert!(registry.find(None, "apples").unwrap().is::<Apple>());
        assert_eq!(registry.find(None, "things").unwrap_err().code(), ErrorCode::ModelNotFound, "ambiguous");
        assert!(registry.find(Some("archive"), "things").unwrap().is::<ArchivedThing>());
        assert_eq!(registry.find(Some("public"), "nope").unwrap_err().code(), ErrorCode::ModelNotFound);
    }
}
