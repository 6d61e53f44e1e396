import { loadStorage } from '../config/load.ts';
import { NoStoreError, openStoreReadOnly } from '../store/open.ts';
import { verifyLedger } from '../store/ledger.ts';

/** Checks balance = sum(ledger) for every account, reading the store directly. Exit 1 on any difference, or if there is no store. */
export async function ledgerVerify(configFile: string | undefined): Promise<number> {
  const storage = loadStorage(configFile);
  let db;
  try {
    db = openStoreReadOnly(storage);
  } catch (err) {
    if (!(err instanceof NoStoreError)) throw err;
    process.stderr.write(`tollgate: ${err.message} (storage ${storage}); run this where the gateway runs, or pass --config FILE\n`);
    return 1;
  }
  try {
    const accounts = await db.selectFrom('accounts').select((eb) => eb.fn.countAll<bigint>().as('n')).executeTakeFirstOrThrow();
    const mismatches = await verifyLedger(db);
    if (mismatches.length === 0) {
      process.stdout.write(`ledger ok: ${Number(accounts.n)} accounts, every balance equals the sum of its ledger\n`);
      return 0;
    }
    for (const m of mismatches) {
      process.stdout.write(`MISMATCH ${m.account_id}: balance ${m.balance_usd} USD, ledger sum ${m.ledger_sum_usd} USD, difference ${m.difference_usd} USD\n`);
    }
    return 1;
  } finally {
    await db.destroy();
  }
}
