/**
 * `reqforge/declarative`: typed client definitions. See {@link defineClient}.
 * @packageDocumentation
 */
export * from './declarative/index.js';
