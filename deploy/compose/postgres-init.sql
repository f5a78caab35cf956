-- Runs once, when the compose PostgreSQL volume is first initialised: one database per
-- PostgreSQL service (members' is POSTGRES_DB). Add a line when a service joins.
CREATE DATABASE payments;
CREATE DATABASE opportunities;
