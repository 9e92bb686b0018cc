//! CSV rows: fields are columns, found by header name.

use crate::value::Value;

/// Column positions of a dataflow's fields in one CSV file.
#[derive(Clone, Debug)]
pub struct CsvColumns {
    positions: Vec<Option<usize>>,
}

impl CsvColumns {
    /// Finds each field path among the header's column names (surrounding spaces ignored).
    /// Fields whose column is absent stay missing in every row.
    pub fn new(header: &csv::StringRecord, paths: &[String]) -> CsvColumns {
        let positions = paths
            .iter()
            .map(|path| {
                header
                    .iter()
                    .position(|column| column.trim() == path.trim())
            })
            .collect();
        CsvColumns { positions }
    }

    /// Field paths that no column carries.
    pub fn absent<'p>(&self, paths: &'p [String]) -> Vec<&'p str> {
        self.positions
            .iter()
            .zip(paths)
            .filter(|(p, _)| p.is_none())
            .map(|(_, path)| path.as_str())
            .collect()
    }

    /// The row's field values; empty cells are missing, everything else is text.
    pub fn extract(&self, row: &csv::StringRecord) -> Vec<Option<Value>> {
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
        let paths = vec!["Fare".to_string(), "Tips".to_string(), "Tolls".to_string()];
        let columns = CsvColumns::new(&header, &paths);
        assert_eq!(columns.absent(&paths), vec!["Tolls"]);
        let row = csv::StringRecord::from(vec!["x", "$7.65", ""]);
        assert_eq!(
            columns.extract(&row),
            vec![Some(Value::Str("$7.65".into())), None, None]
        );
    }
}
