"""The data-sharing port (数据共享): other departments' records as evidence for a decision."""
