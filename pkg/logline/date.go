package logline

// Date is a calendar day.
type Date struct {
	Year, Month, Day int
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string {
	b := make([]byte, 0, 10)
	return string(d.Append(b))
}

// Append appends YYYY-MM-DD to b.
func (d Date) Append(b []byte) []byte {
	b = append4(b, d.Year)
	b = append(b, '-')
	b = append2(b, d.Month)
	b = append(b, '-')
	return append2(b, d.Day)
}

// MonthStart is the first day of d's month, the statistics' month key.
func (d Date) MonthStart() Date { return Date{d.Year, d.Month, 1} }

// Before orders dates.
func (d Date) Before(o Date) bool {
	if d.Year != o.Year {
		return d.Year < o.Year
	}
	if d.Month != o.Month {
		return d.Month < o.Month
	}
	return d.Day < o.Day
}

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10%10), byte('0'+v%10))
}

// ParseDate parses a YYYY-MM-DD day (exactly that form).
func ParseDate(s string) (Date, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || !validDay(y, m, d) {
		return Date{}, false
	}
	return Date{y, m, d}, true
}

func digits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, len(s) > 0
}

func validDay(y, m, d int) bool {
	if y < 1 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= daysIn(y, m)
}

func daysIn(y, m int) int {
	switch m {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

// ParseFinished extracts the event date from a `finished` timestamp the way
// the reference does: Python's strptime with "%Y-%m-%dT%H:%M:%S.%f%z", then
// "%Y-%m-%dT%H:%M:%S%z". The date is the one written: no time-zone
// conversion. Python's quirks are kept on purpose (1-2 digit fields, offsets
// with seconds) so that no node counts a line the reference skips or vice
// versa.
func ParseFinished(s []byte) (Date, bool) {
	d, _, ok := ParseFinishedTime(s)
	return d, ok
}

// ParseFinishedTime is ParseFinished that also returns the time of day as
// written, in seconds (the daemon's log clock).
func ParseFinishedTime(s []byte) (Date, int, bool) {
	p := 0
	num := func(min, max int) (int, bool) {
		v, n := 0, 0
		for p < len(s) && n < max && s[p] >= '0' && s[p] <= '9' {
			v = v*10 + int(s[p]-'0')
			p++
			n++
		}
		return v, n >= min
	}
	lit := func(c byte) bool {
		if p < len(s) && s[p] == c {
			p++
			return true
		}
		return false
	}
	y, ok := num(4, 4)
	if !ok || !lit('-') {
		return Date{}, 0, false
	}
	m, ok := num(1, 2)
	if !ok || !lit('-') {
		return Date{}, 0, false
	}
	d, ok := num(1, 2)
	// strptime matches literals case-insensitively.
	if !ok || !(lit('T') || lit('t')) {
		return Date{}, 0, false
	}
	hh, ok := num(1, 2)
	if !ok || !lit(':') {
		return Date{}, 0, false
	}
	mm, ok := num(1, 2)
	if !ok || !lit(':') {
		return Date{}, 0, false
	}
	ss, ok := num(1, 2)
	if !ok {
		return Date{}, 0, false
	}
	if lit('.') {
		if _, ok := num(1, 6); !ok {
			return Date{}, 0, false
		}
	}
	if !parseTZ(s[p:]) {
		return Date{}, 0, false
	}
	// strptime's regexes: month 1-12, day 1-31, hour 0-23, minute 0-59,
	// second 0-61; then datetime() rejects second > 59 and impossible days.
	if y < 1 || m < 1 || m > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 59 || !validDay(y, m, d) {
		return Date{}, 0, false
	}
	return Date{y, m, d}, hh*3600 + mm*60 + ss, true
}

// parseTZ accepts what strptime's %z does: Z, or ±HH[:]MM[[:]SS[.ffffff]],
// strictly less than a day.
func parseTZ(s []byte) bool {
	if len(s) == 1 && s[0] == 'Z' {
		return true
	}
	if len(s) < 5 || (s[0] != '+' && s[0] != '-') {
		return false
	}
	i := 1
	two := func(maxFirst byte) (int, bool) {
		if i+2 > len(s) || s[i] < '0' || s[i] > maxFirst || s[i+1] < '0' || s[i+1] > '9' {
			return 0, false
		}
		v := int(s[i]-'0')*10 + int(s[i+1]-'0')
		i += 2
		return v, true
	}
	colon := false
	hh, ok := two('9')
	if !ok {
		return false
	}
	if i < len(s) && s[i] == ':' {
		colon = true
		i++
	}
	if _, ok := two('5'); !ok {
		return false
	}
	if i < len(s) {
		// Python rejects "Inconsistent use of :" between the two separators.
		if s[i] == ':' {
			if !colon {
				return false
			}
			i++
		} else if colon {
			return false
		}
		if _, ok := two('5'); !ok {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			n := 0
			for i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 6 {
				i++
				n++
			}
			if n == 0 {
				return false
			}
		}
	}
	return i == len(s) && hh < 24
}
