package retryhttp

// GatesForTest returns how many cool-down gates t keeps.
func GatesForTest(t *Transport) int {
	t.coolDowns.mu.Lock()
	defer t.coolDowns.mu.Unlock()
	return len(t.coolDowns.gates)
}
