//! Search queries: the JSON query format of SPEC §4 and the filter language.
