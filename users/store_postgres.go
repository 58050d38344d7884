package main

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
)

//go:embed migrations/*.sql
var migrations embed.FS

// postgresStore keeps users in the "users" schema of DATABASE_URL.
type postgresStore struct {
	db *sql.DB
}

// openPostgresStore opens the "users" schema of dsn, migrated.
func openPostgresStore(ctx context.Context, dsn string) (*postgresStore, error) {
	db, err := pg.OpenMigrated(ctx, dsn, "users", migrations)
	if err != nil {
		return nil, err
	}
	return &postgresStore{db: db}, nil
}

const userColumns = `id, email, name, role, password_hash, address, disabled, created_at, updated_at`

func (p *postgresStore) Create(ctx context.Context, u User) error {
	addr, err := marshalAddress(u.Address)
	if err != nil {
		return err
	}
	_, err = p.db.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		u.ID, u.Email, u.Name, u.Role, u.PasswordHash, addr, u.Disabled, u.CreatedAt, u.UpdatedAt)
	if _, dup := pg.IsUniqueViolation(err); dup {
		return ErrEmailTaken
	}
	if err != nil {
		return pg.Classify(err)
	}
	return nil
}

func (p *postgresStore) Get(ctx context.Context, id string) (User, error) {
	return scanUser(p.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

func (p *postgresStore) GetByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(p.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
}

func (p *postgresStore) Update(ctx context.Context, id string, change func(*User) error) (User, error) {
	var out User
	err := pg.InTx(ctx, p.db, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := change(&u); err != nil {
			return err
		}
		addr, err := marshalAddress(u.Address)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET name=$2, role=$3, password_hash=$4, address=$5, disabled=$6, updated_at=$7 WHERE id=$1`,
			id, u.Name, u.Role, u.PasswordHash, addr, u.Disabled, u.UpdatedAt)
		if err != nil {
			return pg.Classify(err)
		}
		out = u
		return nil
	})
	return out, err
}

func (p *postgresStore) Close() error { return p.db.Close() }

func scanUser(row *sql.Row) (User, error) {
	var u User
	var addr []byte
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &addr, &u.Disabled, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, pg.Classify(err)
	}
	if addr != nil {
		u.Address = &Address{}
		if err := json.Unmarshal(addr, u.Address); err != nil {
			return User{}, errs.Internalf(err, "decode address")
		}
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// marshalAddress stores a missing address as SQL NULL, not JSON null. The
// JSON goes as a string: kit/pg sends []byte in binary format, which jsonb
// does not take.
func marshalAddress(a *Address) (any, error) {
	if a == nil {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, errs.Internalf(err, "encode address")
	}
	return string(b), nil
}
