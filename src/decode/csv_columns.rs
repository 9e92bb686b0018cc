//! CSV rows: fields are columns, found by header name.

use crate::event::Fields;
use crate::value::Value;

/// Column positions of a dataflow's fields in one CSV file.
#[derive(Clone, Debug)]
pub struct CsvColumns {
    positions: Vec<Option<usize>>,
}

impl CsvColumns {
    /// Finds each field among the header's column names (surrounding spaces ignored): the
    /// first of its alternative names that the header has. Fields without a column stay
    /// missing in every row.
    pub fn new(header: &csv::StringRecord, alternatives: &[Vec<String>]) -> CsvColumns {
        let positions = alternatives
            .iter()
            .map(|names| {
                names.iter().find_map(|name| {
                    header
                        .iter()
                        .position(|column| column.trim() == name.trim())
                })
            })
            .collect();
        CsvColumns { positions }
    }

    /// The fields no column carries, each as its alternative names (`a or b`).
    pub fn absent(&self, alternatives: &[Vec<String>]) -> Vec<String> {
        self.positions
            .iter()
            .zip(alternatives)
            .filter(|(p, _)| p.is_none())
            .map(|(_, names)| names.join(" or "))
            .collect()
    }

    /// The row's field values; empty cells are missing, everything else is text.
    pub fn extract(&self, row: &csv::StringRecord) -> Fields {
        self.positions
            .iter()
            .map(|p| {
                p.and_then(|i| row.get(i))
                    .filter(|cell| !cell.trim().is_empty())
                    .map(|cell| Value::Str(cell.into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_columns_by_name() {
        let header = csv::StringRecord::from(vec!["Trip ID", " Fare", "Tips"]);
        let paths = vec![
            vec!["fare".to_string(), "Fare".to_string()],
            vec!["Tips".to_string()],
            vec!["Tolls".to_string()],
        ];
        let columns = CsvColumns::new(&header, &paths);
        assert_eq!(columns.absent(&paths), vec!["Tolls"]);
        let row = csv::StringRecord::from(vec!["x", "$7.65", ""]);
        assert_eq!(
            columns.extract(&row)[..],
            [Some(Value::Str("$7.65".into())), None, None]
        );
    }
}
