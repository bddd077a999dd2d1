/// How to evolve a contract instead of making the change a rule refused: what a gate
/// prints beside each breaking change, so the author learns the safe move and not only
/// that the move was unsafe.
package enum SchemaAdvice {
    /// The advice for `rule`, with or without its direction (`BACKWARD TYPE_NARROWED`);
    /// nil for rules whose message already says all there is.
    package static func advice(forRule rule: String) -> String? {
        let bare = rule.split(separator: " ").last.map(String.init) ?? rule
        if let advice = table[bare] { return advice }
        // A bound or count added, raised or lowered (maxLength, maximum, minItems, ...).
        return ["_ADDED", "_INCREASED", "_DECREASED"].contains(where: bare.hasSuffix) ? constraint : nil
    }

    private static let constraint =
        "this constraint rejects values the other version accepts: check it in the application for new writes, or carry the stricter value in a new optional field"

    private static let table: [String: String] = [
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL":
            "an open content model lets old data carry this name with any type, so a typed property breaks readers of it. Add it with an empty schema ({}), or close the model (additionalProperties: false) from the contract's first version, so that later versions can add typed properties",
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
            "give the new property a schema that the earlier patternProperties or additionalProperties schema also accepts, or a name none of its patterns match",
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL":
            "keep the property, optional and documented as unused, or allow it through additionalProperties: a closed model rejects data that still carries it",
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
            "keep the property, or make sure the patternProperties or additionalProperties schema that now covers its name accepts its old values",
        "PATTERN_PROPERTY_ADDED_NOT_COVERED":
            "old data may already hold properties whose names the new pattern matches, with any value the old model allowed: give the pattern a schema that accepts those values, or declare the names you need as properties of their own",
        "PATTERN_PROPERTY_REMOVED_NOT_COVERED":
            "keep the pattern, or make sure what now covers the names it matched (another pattern or additionalProperties) accepts their old values",
        "CONDITION_ADDED":
            "a condition constrains data written before it: check it in the application for new writes, or let each branch accept what the previous version allowed",
        "CONDITION_CHANGED":
            "keep the previous if/then/else, or let each branch accept what the previous version allowed; check the stricter rule in the application for new writes",
        "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
            "add the property as optional, or keep it required and give it a default in contract.yaml's upcast step for the previous version, so old data gains it",
        "REQUIRED_ATTRIBUTE_ADDED":
            "add the property as optional, or give it a default in contract.yaml's upcast step for the previous version, so old data gains it",
        "TYPE_NARROWED":
            "keep accepting the earlier types (list both in type, or an anyOf), or add a new field with the new type and stop writing the old one",
        "TYPE_CHANGED":
            "add a new field with the new type and stop writing the old one (an upcast step can fill it from old data); a field's type never changes in place",
        "COMBINED_TYPE_CHANGED":
            "keep every alternative of the earlier anyOf/oneOf/allOf that data may use, or add a new field for the new shape",
        "SUM_TYPE_NARROWED":
            "keep every alternative of the earlier anyOf/oneOf, or add a new field for the new shape",
        "PRODUCT_TYPE_EXTENDED":
            "an added allOf branch constrains data written before it: add the constraint to new writes in the application, or a new field",
        "NOT_TYPE_EXTENDED":
            "widening what `not` excludes rejects data written before: check it in the application instead",
        "ENUM_ARRAY_NARROWED":
            "keep the retired values in the enum (stop writing them in the application), or add a new field with the new set",
        "ENUM_ARRAY_CHANGED":
            "keep the earlier values in the enum and add the new ones, or add a new field with the new set",
        "PATTERN_CHANGED": constraint,
        "MULTIPLE_OF_CHANGED": constraint,
        "DEPENDENCY_ARRAY_EXTENDED": constraint,
        "ADDITIONAL_ITEMS_NARROWED": constraint,
        "ADDITIONAL_PROPERTIES_ADDED":
            "closing an open model rejects old data that carries other properties: keep it open and check new writes in the application; a contract meant to be closed is closed from its first version",
        "ADDITIONAL_PROPERTIES_NARROWED": constraint,
        "UNEVALUATED_PROPERTIES_ADDED":
            "old data may carry members nothing in the earlier version evaluated, with any value: keep the model open and check new writes in the application; a contract meant to be closed is closed from its first version",
        "UNEVALUATED_PROPERTIES_NARROWED": constraint,
        "UNEVALUATED_ITEMS_ADDED":
            "old arrays may hold items nothing in the earlier version evaluated, with any value: keep them open and check new writes in the application, or close the array from the contract's first version",
        "UNEVALUATED_ITEMS_NARROWED": constraint,
        "ITEM_ADDED_TO_OPEN_CONTENT_MODEL":
            "old arrays may already hold any value at this position: give the new item an empty schema ({}), or close the array (items: false after the positional ones) from the contract's first version",
        "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
            "give the new positional item a schema that the earlier items schema also accepts",
        "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL":
            "keep the positional item, or let the items after the positional ones accept its old values",
        "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
            "keep the positional item, or make the items schema that now covers its position accept its old values",
        "PUBLISHED_VERSION_EDITED":
            "a published version is immutable: restore it as it was and put the change in the next version",
        "PUBLISHED_VERSION_DELETED":
            "a published version stays as long as data written with it may exist: restore it",
        "VERSION_GAP":
            "versions run v1, v2, ... without gaps: add the missing file or renumber the unpublished ones",
        "KEY_FIELD_OPTIONAL":
            "the key field identifies the entity: list it in required in every version",
    ]
}
