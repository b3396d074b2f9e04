//! What cohort's SCIM resources hold, attribute by attribute (RFC 7643 §2,
//! §4.1, §4.2): one table that the discovery documents are rendered from and
//! that PATCH, attribute selection and the filter compiler consult, so what is
//! advertised is exactly what is stored and returned.
//!
//! Only attributes cohort stores verbatim are listed: an advertised attribute
//! that were dropped or rewritten would fail a client's round trip.

use serde_json::{json, Map, Value};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Reference,
    Complex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

const fn attr(name: &'static str, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn immutable(mut a: Attr) -> Attr {
    a.mutability = Mutability::Immutable;
    a
}

const fn exact(mut a: Attr) -> Attr {
    a.case_exact = true;
    a
}

const NAME_SUB: &[Attr] = &[
    attr("familyName", Kind::String, "The family name."),
    attr("givenName", Kind::String, "The given name."),
];

const EMAIL_SUB: &[Attr] = &[
    attr("value", Kind::String, "The email address."),
    Attr {
        canonical: &["work", "home", "other"],
        ..attr("type", Kind::String, "What the address is for.")
    },
    attr(
        "primary",
        Kind::Boolean,
        "Whether this is the user's email.",
    ),
];

const USER_GROUP_SUB: &[Attr] = &[
    read_only(exact(attr("value", Kind::String, "The group's id."))),
    Attr {
        reference_types: &["Group"],
        ..read_only(exact(attr("$ref", Kind::Reference, "The group's URI.")))
    },
    read_only(attr("display", Kind::String, "The group's name.")),
    Attr {
        canonical: &["direct"],
        ..read_only(attr("type", Kind::String, "Always direct."))
    },
];

pub static USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..attr(
            "userName",
            Kind::String,
            "Unique login name, compared without regard to case.",
        )
    },
    Attr {
        sub: NAME_SUB,
        ..attr("name", Kind::Complex, "The parts of the user's name.")
    },
    attr(
        "displayName",
        Kind::String,
        "The name shown to others; the user's full name follows it.",
    ),
    // Listed as required because every user has an activity state: it can be
    // set but not removed (a create without it still makes an active user).
    Attr {
        required: true,
        ..attr(
            "active",
            Kind::Boolean,
            "false deactivates the user; always present.",
        )
    },
    Attr {
        multi: true,
        sub: EMAIL_SUB,
        ..attr(
            "emails",
            Kind::Complex,
            "Emails; the primary one (or the first) is the address the user signs in with.",
        )
    },
    Attr {
        multi: true,
        sub: USER_GROUP_SUB,
        ..read_only(attr(
            "groups",
            Kind::Complex,
            "Groups the user is a direct member of (change them through Groups).",
        ))
    },
];

const MEMBER_SUB: &[Attr] = &[
    immutable(exact(attr("value", Kind::String, "The member's id."))),
    Attr {
        reference_types: &["User", "Group"],
        ..immutable(exact(attr("$ref", Kind::Reference, "The member's URI.")))
    },
    Attr {
        canonical: &["User", "Group"],
        ..immutable(attr(
            "type",
            Kind::String,
            "User, or Group for a nested group.",
        ))
    },
];

pub static GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..attr(
            "displayName",
            Kind::String,
            "The group's name, unique in the realm.",
        )
    },
    Attr {
        multi: true,
        sub: MEMBER_SUB,
        ..attr(
            "members",
            Kind::Complex,
            "Direct members: users, and groups nested in this one.",
        )
    },
];

/// The attribute named `name` (any case) among `attrs`.
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Which resource a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::User => "User",
            Resource::Group => "Group",
        }
    }

    pub fn urn(self) -> &'static str {
        match self {
            Resource::User => USER,
            Resource::Group => GROUP,
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Resource::User => "Users",
            Resource::Group => "Groups",
        }
    }

    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Resource::User => USER_ATTRS,
            Resource::Group => GROUP_ATTRS,
        }
    }
}

fn attr_json(a: &Attr) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(a.name));
    let kind = match a.kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Reference => "reference",
        Kind::Complex => "complex",
    };
    out.insert("type".into(), json!(kind));
    out.insert("multiValued".into(), json!(a.multi));
    out.insert("description".into(), json!(a.description));
    out.insert("required".into(), json!(a.required));
    if !a.canonical.is_empty() {
        out.insert("canonicalValues".into(), json!(a.canonical));
    }
    if a.kind != Kind::Boolean && a.kind != Kind::Complex {
        out.insert("caseExact".into(), json!(a.case_exact));
    }
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
    };
    out.insert("mutability".into(), json!(mutability));
    // Every listed attribute is returned unless excluded (`id`, `schemas`
    // and `meta`, always returned, are common attributes, not listed).
    out.insert("returned".into(), json!("default"));
    out.insert(
        "uniqueness".into(),
        json!(if a.unique { "server" } else { "none" }),
    );
    if !a.reference_types.is_empty() {
        out.insert("referenceTypes".into(), json!(a.reference_types));
    }
    if !a.sub.is_empty() {
        out.insert(
            "subAttributes".into(),
            Value::Array(a.sub.iter().map(attr_json).collect()),
        );
    }
    Value::Object(out)
}

/// The `/Schemas/{urn}` document of a resource.
pub fn schema_json(resource: Resource, base: &str) -> Value {
    let (name, description) = match resource {
        Resource::User => ("User", "A person in the directory"),
        Resource::Group => ("Group", "A group of users and nested groups"),
    };
    json!({
        "schemas": [SCHEMA],
        "id": resource.urn(),
        "name": name,
        "description": description,
        "attributes": resource.attrs().iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", resource.urn()),
        }
    })
}

/// The `/ResourceTypes/{name}` document of a resource.
pub fn resource_type_json(resource: Resource, base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE],
        "id": resource.name(),
        "name": resource.name(),
        "endpoint": format!("/{}", resource.endpoint()),
        "description": match resource {
            Resource::User => "Users of the directory",
            Resource::Group => "Groups of the directory",
        },
        "schema": resource.urn(),
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", resource.name()),
        }
    })
}
