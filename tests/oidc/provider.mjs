// The OpenID Connect provider the sign-in tests start: panva's oidc-provider (certified), offline,
// on 127.0.0.1. Its development sign-in form takes any login (the password is not checked) and
// then asks for consent; the tests fill both in as a person would.
//
//   PORT=…  REDIRECT_URI=…  ACCOUNTS_FILE=accounts.json  node provider.mjs
//
// accounts.json: {"alice": {"groups": ["red-owners"]}}, read at every sign-in (a test may change
// someone's groups between two sign-ins).
//
// One client, `stoker`: public (no secret), so PKCE is all that binds the code to who asked for
// it, and the provider requires it (S256 only). Groups are a claim of the `groups` scope, given by
// the user info endpoint (the ID token carries only what the standard puts there).
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'stoker',
    token_endpoint_auth_method: 'none',
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
    groups: ['groups'],
  },
  async findAccount(_ctx, id) {
    const account = accounts()[id] || {};
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.test`, groups: account.groups || [] };
      },
    };
  },
  cookies: { keys: ['stoker-test-provider'] },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
